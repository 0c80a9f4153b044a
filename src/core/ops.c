/* SPDX-License-Identifier: MIT */
/* ops.c - the tables generated from FL_OPS; see ops.h. */
#include "ops.h"

#include <stdbool.h>
#include <string.h>

const struct fl_op_info fl_op_table[FL_OP_COUNT] = {
#define FL_OP_ROW(sym, fam, fam2, cls, flags)                                                     \
    [FL_OP_##sym] = {#sym, FL_FAM_##fam, FL_FAM_##fam2, FL_CLS_##cls, flags},
    FL_OPS(FL_OP_ROW)
#undef FL_OP_ROW
};

const char *const fl_family_names[FL_FAM_COUNT] = {
    [FL_FAM_NONE] = "",
    [FL_FAM_IO_OPEN] = "io.open",
    [FL_FAM_IO_READ] = "io.read",
    [FL_FAM_IO_WRITE] = "io.write",
    [FL_FAM_IO_SYNC] = "io.sync",
    [FL_FAM_IO_META] = "io.meta",
    [FL_FAM_IO_LOCK] = "io.lock",
    [FL_FAM_NET_CONNECT] = "net.connect",
    [FL_FAM_NET_ACCEPT] = "net.accept",
    [FL_FAM_NET_SEND] = "net.send",
    [FL_FAM_NET_RECV] = "net.recv",
    [FL_FAM_DNS] = "dns",
    [FL_FAM_MEM] = "mem",
    [FL_FAM_TIME] = "time",
};

/* Written with string functions only (no snprintf): the preload calls it too. */
void fl_op_base_name(const char *name, char *out, size_t len)
{
    if (len == 0)
        return;
    while (*name == '_')
        name++;
    size_t n = strlen(name);
    if (n >= len)
        n = len - 1;
    memcpy(out, name, n);
    out[n] = '\0';
    static const char *const suffixes[] = {"__in", "_chk", "_2", "_unlocked"};
    for (bool again = true; again;) {
        again = false;
        for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
            size_t s = strlen(suffixes[i]);
            if (n > s && strcmp(out + n - s, suffixes[i]) == 0) {
                n -= s;
                out[n] = '\0';
                again = true;
            }
        }
    }
    if (n > 4 && strcmp(out + n - 4, "64v2") == 0) {
        memcpy(out + n - 4, "2", 2); /* preadv64v2 is the large-file preadv2 */
        n -= 3;
    } else if (n > 2 && strcmp(out + n - 2, "64") == 0) {
        n -= 2;
        out[n] = '\0';
    }
    /* the *at forms are the same call relative to a directory fd: rename covers renameat and
     * renameat2, unlink covers unlinkat, open covers openat (mv and rm use only the *at ones) */
    if (n > 3 && strcmp(out + n - 3, "at2") == 0)
        out[--n] = '\0';
    if (n > 2 && strcmp(out + n - 2, "at") == 0 && strcmp(out, "creat") != 0)
        out[n - 2] = '\0';
}
