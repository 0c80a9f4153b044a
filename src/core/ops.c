/* SPDX-License-Identifier: MIT */
/* ops.c - the tables generated from FL_OPS; see ops.h. */
#include "ops.h"

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
