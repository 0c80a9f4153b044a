/* SPDX-License-Identifier: MIT */
/* total: sums a ledger, one "DATE AMOUNT_IN_CENTS" entry per line ('#' lines are comments),
 * and prints "total CENTS from N entries". Usage: total LEDGER
 * FIXED: after the loop, ferror() tells a read error from the end of the file (exit 1). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sum {
    long long cents;
    long entries;
};

static int add_line(struct sum *s, const char *line)
{
    char date[16];
    long long cents;
    if (line[0] == '#' || line[0] == '\n')
        return 0;
    if (sscanf(line, "%15s %lld", date, &cents) != 2)
        return -1;
    s->cents += cents;
    s->entries++;
    return 0;
}

static int sum_ledger(const char *path, struct sum *s)
{
    char line[256];
    long lineno = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (add_line(s, line) < 0)
            fprintf(stderr, "total: %s:%ld: not an entry, skipped\n", path, lineno);
    }
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        return errno = e, -1;
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    struct sum s = {0, 0};
    if (argc != 2) {
        fprintf(stderr, "usage: total LEDGER\n");
        return 2;
    }
    if (sum_ledger(argv[1], &s) < 0) {
        fprintf(stderr, "total: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    printf("total %lld from %ld entries\n", s.cents, s.entries);
    return 0;
}
