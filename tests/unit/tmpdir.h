/* SPDX-License-Identifier: MIT */
/*
 * tmpdir.h - a private scratch directory per unit test, made fresh and removed whole, so tests
 * that write journals and control blocks never share or leave files behind.
 */
#ifndef FL_TEST_TMPDIR_H
#define FL_TEST_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int fl_test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Make /tmp/faultline-test-<name>-XXXXXX into buf; 0 on success, -1 on failure. */
static inline int fl_test_mkdtemp(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "/tmp/faultline-test-%s-XXXXXX", name);
    return mkdtemp(buf) ? 0 : -1;
}

/* Remove dir and everything below it. */
static inline void fl_test_rmtree(const char *dir)
{
    nftw(dir, fl_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
