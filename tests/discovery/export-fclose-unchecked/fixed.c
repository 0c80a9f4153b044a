/* SPDX-License-Identifier: MIT */
/* export: writes N invoice records as CSV (a header, then "id,customer,cents" rows) through
 * stdio, and prints "exported N records" when the file is complete. Usage: export FILE N
 * FIXED: a failed fclose() (the final flush) is an error, reported with exit 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const customers[] = {"acme", "globex", "initech", "umbrella", "hooli"};

static int export_csv(const char *path, long n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "id,customer,cents\n");
    for (long i = 1; i <= n; i++)
        fprintf(f, "%ld,%s,%ld\n", i, customers[i % 5], i * 1999 % 100000);
    return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: export FILE N\n");
        return 2;
    }
    long n = strtol(argv[2], NULL, 10);
    if (n < 1 || n > 100) {
        fprintf(stderr, "export: N must be 1..100\n");
        return 2;
    }
    if (export_csv(argv[1], n) < 0) {
        fprintf(stderr, "export: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    printf("exported %ld records\n", n);
    return 0;
}
