/* SPDX-License-Identifier: MIT */
/*
 * glob.h - the path and host matcher, shared by the CLI and the preload.
 *
 * Written here rather than calling fnmatch(3) because the preload runs inside any program, at
 * any moment (inside malloc, after fork): glibc's fnmatch may allocate and depends on the
 * locale. This one allocates nothing. '*' matches any run of characters including '/', '?' one
 * character, [abc], [a-z] and [!x] a class; '\' quotes the next character.
 */
#ifndef FL_GLOB_H
#define FL_GLOB_H

#include <stdbool.h>

static inline bool fl_glob_class(const char **pp, char c, bool *ok)
{
    const char *p = *pp + 1;
    bool neg = false, hit = false;
    if (*p == '!' || *p == '^') {
        neg = true;
        p++;
    }
    bool first = true;
    while (*p && (first || *p != ']')) {
        char lo = *p, hi = *p;
        if (p[1] == '-' && p[2] && p[2] != ']') {
            hi = p[2];
            p += 2;
        }
        if (c >= lo && c <= hi)
            hit = true;
        p++;
        first = false;
    }
    if (*p != ']') {
        *ok = false; /* unterminated: treat '[' as a literal */
        return false;
    }
    *ok = true;
    *pp = p + 1;
    return hit != neg;
}

/* Iterative matcher with single-star backtracking: linear in practice, no recursion. */
static inline bool fl_glob_match(const char *pat, const char *s)
{
    const char *star_p = 0, *star_s = 0;
    while (*s) {
        if (*pat == '*') {
            while (*pat == '*')
                pat++;
            if (!*pat)
                return true;
            star_p = pat;
            star_s = s;
            continue;
        }
        if (*pat == '?') {
            pat++;
            s++;
            continue;
        }
        if (*pat == '[') {
            const char *p = pat;
            bool ok;
            bool hit = fl_glob_class(&p, *s, &ok);
            if (ok) {
                if (hit) {
                    pat = p;
                    s++;
                    continue;
                }
                goto backtrack;
            }
            /* fall through: literal '[' */
        }
        {
            const char *p = pat;
            if (*p == '\\' && p[1])
                p++;
            if (*p && *p == *s) {
                pat = p + 1;
                s++;
                continue;
            }
        }
    backtrack:
        if (!star_p)
            return false;
        pat = star_p;
        s = ++star_s;
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

/* A pattern without '/' matches the last component (as .gitignore does), so "*.db" matches
 * /var/lib/app/x.db; a pattern with '/' matches the whole absolute path. */
static inline bool fl_glob_match_path(const char *pat, bool pat_has_slash, const char *path)
{
    if (pat_has_slash)
        return fl_glob_match(pat, path);
    const char *base = path;
    for (const char *q = path; *q; q++)
        if (*q == '/' && q[1])
            base = q + 1;
    return fl_glob_match(pat, base);
}

#endif
