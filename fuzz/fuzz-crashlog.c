/* SPDX-License-Identifier: MIT */
/*
 * fuzz-crashlog.c - libFuzzer target for the crash event log reader and everything that
 * consumes a log: the live replay, the persistence models and state enumeration (crashfs.c).
 *
 * The input is a whole log file. The reader must return only records that lie inside the
 * input and obey their op's rules, or -EBADMSG with the offset. A log that reads cleanly is
 * then replayed against an empty snapshot under both models: whatever nonsense it describes
 * (writes to files never opened, renames of missing names, cycles of renames), fl_crashfs_open
 * must either refuse it with a message or accept it, and an accepted log must give at least
 * one state at every cut it is asked about, each with a digest, a class and an explanation
 * that fits its buffer. Nothing is written to disk: materialising is covered by the unit tests.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crashfs.h"
#include "crashlog.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz-crashlog: invariant failed at %s:%d: %s\n", __FILE__,          \
                    __LINE__, #cond);                                                             \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static char snapshot[64]; /* an empty directory, made once per process */

static void remove_snapshot(void)
{
    rmdir(snapshot);
}

static void explore(const struct fl_crashlog *log, enum fl_crash_model model)
{
    struct fl_crashfs *fs;
    struct fl_err err = {{0}};
    struct fl_crashfs_limits lim;
    fl_crashfs_default_limits(&lim);
    lim.max_states = 16;
    int rc = fl_crashfs_open(&fs, snapshot, log, model, &lim, &err);
    if (rc < 0) {
        CHECK(rc == -EBADMSG || rc == -ENOTSUP || rc == -EFBIG);
        CHECK(err.msg[0] != '\0');
        return;
    }
    size_t n = fl_crashfs_event_count(fs);
    /* every cut of a short log; the first, middle and last of a long one */
    size_t cuts[33], ncuts = 0;
    if (n < 32)
        for (size_t k = 0; k <= n; k++)
            cuts[ncuts++] = k;
    else {
        cuts[ncuts++] = 0;
        cuts[ncuts++] = n / 2;
        cuts[ncuts++] = n;
    }
    for (size_t c = 0; c < ncuts; c++) {
        size_t cut = cuts[c];
        struct fl_crash_states *set;
        CHECK(fl_crashfs_states(fs, cut, &set, &err) == 0);
        CHECK(fl_crash_states_count(set) >= 1 && fl_crash_states_count(set) <= lim.max_states);
        for (size_t i = 0; i < fl_crash_states_count(set); i++) {
            const struct fl_crash_state *st = fl_crash_states_get(set, i);
            CHECK(fl_crash_state_cut(st) == cut);
            uint64_t d;
            CHECK(fl_crashfs_digest(fs, st, &d) == 0);
            enum fl_crash_pattern p = fl_crashfs_classify(fs, st);
            CHECK(p >= FL_CRASH_PATTERN_OTHER && p <= FL_CRASH_PATTERN_RENAME_WITHOUT_FSYNC);
            char why[512];
            CHECK(fl_crashfs_explain(fs, st, why, sizeof(why)) > 0);
            CHECK(memchr(why, '\0', sizeof(why)) != NULL);
        }
        fl_crash_states_free(set);
    }
    fl_crashfs_free(fs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!snapshot[0]) {
        snprintf(snapshot, sizeof(snapshot), "/tmp/faultline-fuzz-crashlog-XXXXXX");
        CHECK(mkdtemp(snapshot) != NULL);
        atexit(remove_snapshot);
    }
    struct fl_crashlog log;
    struct fl_err err = {{0}};
    if (fl_crashlog_from_buffer(&log, data, size, &err) < 0) {
        CHECK(strstr(err.msg, "offset ") != NULL);
        return 0;
    }
    size_t pos = 0;
    struct fl_crash_event ev;
    int rc;
    while ((rc = fl_crashlog_next(&log, &pos, &ev, &err)) == 1) {
        CHECK(pos <= size && ev.log_offset < pos);
        const uint8_t *end = data + pos;
        CHECK(!ev.path_len || (const uint8_t *)ev.path + ev.path_len <= end);
        CHECK(!ev.path2_len || (const uint8_t *)ev.path2 + ev.path2_len <= end);
        CHECK(!ev.data || (const uint8_t *)ev.data + ev.length <= end);
        CHECK(fl_crashlog_event_problem(&ev) == NULL);
        /* what the reader accepts, the writer formats back to the same bytes */
        size_t len = fl_crashlog_record_size(&ev);
        CHECK(len == pos - ev.log_offset);
        if (len <= 1 << 16) {
            static unsigned char again[1 << 16];
            CHECK(fl_crashlog_format(again, sizeof(again), &ev) == len);
            CHECK(memcmp(again, data + ev.log_offset, len) == 0);
        }
    }
    if (rc < 0) {
        CHECK(rc == -EBADMSG && strstr(err.msg, "offset ") != NULL);
        return 0;
    }
    explore(&log, FL_CRASH_MODEL_POSIX);
    explore(&log, FL_CRASH_MODEL_EXT4_ORDERED);
    return 0;
}
