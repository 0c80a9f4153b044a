/* SPDX-License-Identifier: MIT */
/*
 * exe_alias.h - the other name a program may have been started by, for --exe.
 *
 * --exe GLOB matches the executable the kernel runs (/proc/self/exe, links resolved). A
 * program started through a symlink or a hard link to its binary is also known by that name,
 * and the user types that one: Debian's /usr/bin/redis-server is a symlink to redis-check-rdb,
 * which picks its role from argv[0], so `--exe redis-server` matched nothing. AT_EXECFN is the
 * path execve was given; it counts as a second name only when it is the same file as the
 * executable. A script's AT_EXECFN is the script, not its interpreter, so for a script --exe
 * still names the interpreter, as documented. Header-only: the preload and the recorder link
 * only libc, and this runs in their constructors, before the program.
 */
#ifndef FL_EXE_ALIAS_H
#define FL_EXE_ALIAS_H

#include <stddef.h>
#include <sys/auxv.h>
#include <sys/stat.h>

/* AT_EXECFN when it names the running executable under another name, else NULL. */
static inline const char *fl_exe_alias(void)
{
    const char *fn = (const char *)getauxval(AT_EXECFN);
    struct stat named, running;
    if (!fn || !*fn || stat(fn, &named) != 0 || stat("/proc/self/exe", &running) != 0)
        return NULL;
    if (named.st_dev != running.st_dev || named.st_ino != running.st_ino)
        return NULL;
    return fn;
}

#endif
