/* SPDX-License-Identifier: MIT */
/*
 * faults/lock.c - hold an SQLite database lock, as a backup script or a crashed writer would,
 * so the program under test meets SQLITE_BUSY ("database is locked").
 *
 * Params: {"path": "app.db", "mode": "shared" | "reserved" | "exclusive"}. The lock is taken
 * through the sqlite3 library itself, so it is exactly the lock a real connection would hold:
 *
 *   mode       how                                rollback journal         WAL
 *   shared     BEGIN; a read                      readers ok, writers      readers and writers
 *              (a backup reading a snapshot)      BUSY at COMMIT           ok; checkpoints cannot
 *                                                                          reset the WAL (busy)
 *   reserved   BEGIN IMMEDIATE                    readers ok, writers      readers ok, writers
 *              (a writer hung mid-transaction)    BUSY                     BUSY
 *   exclusive  locking_mode=EXCLUSIVE;            readers and writers      readers and writers
 *              BEGIN EXCLUSIVE; a read            BUSY                     BUSY
 *              (a writer that died committing)
 *
 * In WAL mode BEGIN EXCLUSIVE alone keeps only writers out; what keeps readers out too is the
 * EXCLUSIVE locking mode, under which the first read takes an exclusive lock on the database
 * file itself (every WAL reader needs a shared lock on it). Nothing is ever written: the
 * transaction is rolled back at revert, and checkpoint-on-close is switched off, so the file
 * is byte-for-byte what it was.
 *
 * The connection lives in this process (in `held`, below) for as long as the fault is held.
 * POSIX advisory locks belong to the process, so if faultline dies, even by SIGKILL, the
 * kernel drops them: revert run by `faultline recover` in another process finds no
 * connection and has nothing to do, and that is correct, not a leak.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fault.h"

/* Connections held by this process, by journal entry id. The one piece of mutable state in
 * the kind: a lock is an open connection and cannot be written into the journal. Only the
 * thread that applies and reverts faults touches it. */
#define LOCK_HELD_MAX 16
static struct {
    char id[64];   /* journal entry id; "" for a free slot */
    sqlite3 *db;   /* the connection holding the lock */
} held[LOCK_HELD_MAX];

static const char *const lock_modes[] = {"shared", "reserved", "exclusive"};

static int mode_index(const char *mode)
{
    for (size_t i = 0; i < sizeof(lock_modes) / sizeof(lock_modes[0]); i++)
        if (mode && strcmp(mode, lock_modes[i]) == 0)
            return (int)i;
    return -1;
}

/* Map an SQLite result to the errno that gives the documented exit status. */
static int sqlite_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return EBUSY;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return EINVAL;
    case SQLITE_CANTOPEN:
        return ENOENT;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
        return EACCES;
    case SQLITE_NOMEM:
        return ENOMEM;
    default:
        return EIO;
    }
}

/* The checks a user's mistake fails: missing, not a file, not SQLite. Read by hand, not by
 * opening with sqlite3, which happily treats any path as a database to be created. *wal is
 * set from the header's write version (2: WAL). */
static int check_file(const char *path, bool *wal, struct fl_err *err)
{
    *wal = false;
    struct stat st;
    if (stat(path, &st) < 0)
        return fl_err_set(err, errno, "lock: %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return fl_err_set(err, EISDIR, "lock: %s: is a directory, expected an SQLite database",
                          path);
    if (!S_ISREG(st.st_mode))
        return fl_err_set(err, EINVAL, "lock: %s: not a regular file, expected an SQLite "
                                       "database", path);
    if (st.st_size == 0)
        return 0; /* SQLite's own idea of a new, empty database: it can be locked */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fl_err_set(err, errno, "lock: %s: %s", path, strerror(errno));
    unsigned char head[20];
    ssize_t n = read(fd, head, sizeof(head));
    close(fd);
    if (n != (ssize_t)sizeof(head) || memcmp(head, "SQLite format 3", 16) != 0)
        return fl_err_set(err, EINVAL, "lock: %s: not an SQLite database (no 'SQLite format 3' "
                                       "header)", path);
    *wal = head[18] == 2;
    return 0;
}

static int lock_prepare(const struct fl_fault_ctx *ctx, const json_t *params, json_t **undo,
                        struct fl_err *err)
{
    const char *path = json_string_value(json_object_get(params, "path"));
    const char *mode = json_string_value(json_object_get(params, "mode"));
    if (!path || !*path)
        return fl_err_set(err, EINVAL, "lock: params need \"path\", the database file");
    if (mode && mode_index(mode) < 0)
        return fl_err_set(err, EINVAL, "lock: mode '%s' is not one of shared, reserved, "
                                       "exclusive", mode);
    bool wal;
    int rc = check_file(path, &wal, err);
    if (rc < 0)
        return rc;
    /* what the mode means depends on it (see the table above): the command says so */
    json_object_set_new(ctx->report, "journal_mode", json_string(wal ? "wal" : "rollback"));
    json_object_set_new(ctx->report, "mode", json_string(mode ? mode : "exclusive"));
    *undo = json_object();
    return *undo ? 0 : fl_err_set(err, ENOMEM, "out of memory");
}

/* Run one statement to completion; rows are read and dropped. */
static int exec1(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int lock_apply(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                      struct fl_err *err)
{
    const char *path = json_string_value(json_object_get(params, "path"));
    const char *mode = json_string_value(json_object_get(params, "mode"));
    int m = mode ? mode_index(mode) : 2;
    if (!path || m < 0)
        return fl_err_set(err, EINVAL, "lock: bad params");
    int slot = -1;
    for (int i = 0; i < LOCK_HELD_MAX && slot < 0; i++)
        if (!held[i].id[0])
            slot = i;
    if (slot < 0)
        return fl_err_set(err, ENOMEM, "lock: more than %d locks held at once", LOCK_HELD_MAX);

    sqlite3 *db = NULL;
    /* Never SQLITE_OPEN_CREATE: prepare saw the file; if it vanished since, say so. A file
     * the user may only read is opened read-only by SQLite itself, and a shared lock still
     * works on it. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &db, flags, NULL);
    const char *step = "open";
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_extended_result_codes(db, 1);
    /* The lock must not change the file: no checkpoint when this connection closes. */
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    /* If another process holds a conflicting lock now, wait a little rather than fail at
     * once: a target that is between two transactions lets go quickly. */
    sqlite3_busy_timeout(db, 5000);
    if (m == 0) {
        step = "BEGIN; SELECT";
        if ((rc = exec1(db, "BEGIN")) == SQLITE_OK)
            rc = exec1(db, "SELECT count(*) FROM sqlite_master");
    } else if (m == 1) {
        step = "BEGIN IMMEDIATE";
        rc = exec1(db, "BEGIN IMMEDIATE");
    } else {
        step = "BEGIN EXCLUSIVE";
        /* In WAL mode only the EXCLUSIVE locking mode keeps readers out (see the header). */
        if ((rc = exec1(db, "PRAGMA locking_mode=EXCLUSIVE")) == SQLITE_OK &&
            (rc = exec1(db, "BEGIN EXCLUSIVE")) == SQLITE_OK)
            rc = exec1(db, "SELECT count(*) FROM sqlite_master");
    }
    if (rc != SQLITE_OK)
        goto fail;
    snprintf(held[slot].id, sizeof(held[slot].id), "%s", ctx->id);
    held[slot].db = db;
    return 0;

fail:;
    int e = sqlite_errno(rc);
    if ((rc & 0xff) == SQLITE_BUSY)
        fl_err_set(err, e, "lock: %s: another connection holds a lock that conflicts with %s "
                           "(still busy after 5s)", path, m >= 0 ? lock_modes[m] : "?");
    else
        fl_err_set(err, e, "lock: %s: %s: %s", path, step,
                   db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return -e;
}

static int lock_revert(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                       struct fl_err *err)
{
    for (int i = 0; i < LOCK_HELD_MAX; i++) {
        if (!held[i].id[0] || strcmp(held[i].id, ctx->id) != 0)
            continue;
        /* Nothing was written, so the rollback only drops the lock; closing would too. */
        exec1(held[i].db, "ROLLBACK");
        sqlite3_close_v2(held[i].db);
        held[i].db = NULL;
        held[i].id[0] = '\0';
        return 0;
    }
    /* Not held here: applied by a process that has exited, and its locks went with it. */
    return 0;
}

static void lock_describe(const json_t *params, char *buf, size_t len)
{
    const char *mode = json_string_value(json_object_get(params, "mode"));
    snprintf(buf, len, "%s SQLite lock on %s", mode ? mode : "exclusive",
             json_string_value(json_object_get(params, "path")) ?: "?");
}

const struct fl_fault_ops fl_fault_lock = {
    .version = FL_FAULT_OPS_VERSION,
    .name = "lock",
    .summary = "hold an SQLite lock (shared, reserved, exclusive): the target sees "
               "\"database is locked\"",
    .prepare = lock_prepare,
    .apply = lock_apply,
    .revert = lock_revert,
    .describe = lock_describe,
};
