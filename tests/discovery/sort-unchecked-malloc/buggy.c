/* SPDX-License-Identifier: MIT */
/* sortnums: reads whitespace-separated integers from FILE, sorts them and prints
 * "N numbers: min MIN median MED max MAX". It reads with open/read into a static buffer, so
 * its one heap allocation is the array of numbers. Usage: sortnums FILE
 * BUG: malloc()'s result is not checked: out of memory, it writes through NULL. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static size_t count_numbers(const char *text)
{
    size_t n = 0;
    for (const char *p = text; *p;) {
        char *end;
        strtol(p, &end, 10);
        if (end == p)
            break;
        n++;
        p = end;
    }
    return n;
}

int main(int argc, char **argv)
{
    static char text[1 << 16];
    size_t len = 0;
    if (argc != 2) {
        fprintf(stderr, "usage: sortnums FILE\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    for (ssize_t n = 1; fd >= 0 && n > 0 && len < sizeof text - 1; len += (size_t)n)
        if ((n = read(fd, text + len, sizeof text - 1 - len)) < 0)
            fd = -1;
    if (fd < 0) {
        fprintf(stderr, "sortnums: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    close(fd);
    text[len] = '\0';
    size_t n = count_numbers(text);
    if (n == 0) {
        fprintf(stderr, "sortnums: %s: no numbers\n", argv[1]);
        return 1;
    }
    long *v = malloc(n * sizeof *v);
    char *p = text;
    for (size_t i = 0; i < n; i++)
        v[i] = strtol(p, &p, 10);
    qsort(v, n, sizeof *v, cmp_long);
    printf("%zu numbers: min %ld median %ld max %ld\n", n, v[0], v[n / 2], v[n - 1]);
    free(v);
    return 0;
}
