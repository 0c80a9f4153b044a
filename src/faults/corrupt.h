/* SPDX-License-Identifier: MIT */
/*
 * corrupt.h - what the SQLite-aware half of the corrupt kind (corrupt_sqlite.c) offers the
 * generic half (corrupt.c) and the command (cmd_corrupt.c, which shows the page or frame the
 * seed chose before anything is journalled).
 */
#ifndef FL_CORRUPT_H
#define FL_CORRUPT_H

#include <jansson.h>

#include "err.h"

/* Check path really is SQLite for mode, decide the target (page, frame, offset) into detail,
 * and add the other files the mode touches (-wal, -journal) to extra_paths. */
int fl_corrupt_sqlite_prepare(const char *path, const char *mode, const json_t *params,
                              json_t *extra_paths, json_t *detail, struct fl_err *err);
/* Open path read-only without moving its atime (O_NOATIME; without it when the kernel
 * refuses, i.e. for a file neither ours nor root's): planning and saving read what a restore
 * must put back exactly, and a SIGKILL between a read and any repair must leave nothing to
 * repair. -1 with errno on failure. */
int fl_corrupt_open_quietly(const char *path);
/* Do the damage prepare decided. */
int fl_corrupt_sqlite_apply(const char *path, const char *mode, const json_t *params,
                            const json_t *detail, struct fl_err *err);

#endif
