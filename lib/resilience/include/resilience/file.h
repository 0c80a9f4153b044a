/* SPDX-License-Identifier: MIT */
/*
 * Durable files: replace a file so that a crash or power loss at any moment leaves either the
 * old content or the new, never a torn or empty file, and load it back with a fallback.
 *
 * rs_file_replace(path, data, len) does, in path's directory:
 *
 *     write   NAME.tmp-XXXXXX (O_EXCL, a fresh random name), all of data
 *     fsync   it                      an error here is a failure: the new data may not be on
 *                                     disk, and a later fsync cannot be trusted to say so
 *                                     (Linux clears the error once it reported it)
 *     link    NAME -> NAME.bak        only with RS_FILE_KEEP_BACKUP and when NAME exists,
 *     rename  over the old NAME.bak   through NAME.bak.tmp-XXXXXX
 *     rename  NAME.tmp-XXXXXX -> NAME atomic: NAME is the old file or the new one
 *     fsync   the directory           makes the renames durable (before it, a power cut may
 *                                     bring back the old NAME; that is the old content, whole)
 *
 * On any failure before the rename the temporary file is removed and NAME is untouched. A
 * failure of the directory fsync is reported (-EIO and "the new content is in place but may
 * not survive a power cut") after the rename: NAME already holds the new content.
 *
 * rs_file_load(path, validate, ...) reads NAME; if it is missing, unreadable, larger than the
 * buffer or rejected by validate, it tries NAME.bak the same way; if that fails too, it says
 * RS_LOAD_DEFAULTS and the caller starts from its defaults. `*source` says which was used, so
 * a service can report "state restored from backup" instead of going on silently.
 *
 * Neither allocates. Paths are at most PATH_MAX bytes with the suffixes added.
 */
#ifndef RESILIENCE_FILE_H
#define RESILIENCE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

enum rs_file_flags {
    RS_FILE_KEEP_BACKUP = 1 << 0, /* keep the previous content as NAME.bak */
};

/* Replace path's content with data[0..len). mode: of a new file (0 means 0644); an existing
 * file's mode is kept. flags: RS_FILE_*. Returns 0 or a negative errno (err filled). */
int rs_file_replace(const char *path, const void *data, size_t len, mode_t mode, unsigned flags,
                    struct rs_err *err);

enum rs_load_source {
    RS_LOAD_PRIMARY,  /* path itself */
    RS_LOAD_BACKUP,   /* path.bak: path was missing or invalid */
    RS_LOAD_DEFAULTS, /* neither: start from defaults (*len is 0) */
};

/* Whether data[0..len) is a valid content (NULL: any content is). */
typedef bool (*rs_validate_fn)(const void *data, size_t len, void *ctx);

/* Load path (else path.bak) into buf[0..cap): *len gets its length, *source where it came from.
 * Returns 0 (also when falling back to defaults: see *source) or a negative errno for bad
 * arguments only. why, if not NULL, gets one line on what was wrong with what was skipped. */
int rs_file_load(const char *path, rs_validate_fn validate, void *ctx, void *buf, size_t cap,
                 size_t *len, enum rs_load_source *source, struct rs_err *why);

/* "primary", "backup", "defaults" */
const char *rs_load_source_name(enum rs_load_source source);

#ifdef __cplusplus
}
#endif

#endif
