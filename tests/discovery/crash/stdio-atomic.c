/* SPDX-License-Identifier: MIT */
/* stdio-atomic: saves a counter N times into state.json ({"count": I}) with stdio: fopen a
 * temporary file, fprintf, fflush, fsync, fclose, rename, fsync the directory; prints
 * "saved I" once save I returned. Usage: stdio-atomic STATE_FILE N
 * FIXED (the twin of stdio-noclose): the stream is flushed and fsynced before the rename. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int save(const char *path, long count)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    if (fprintf(f, "{\"count\": %ld}\n", count) < 0 || fflush(f) != 0 || fsync(fileno(f)) < 0) {
        fclose(f);
        return -1;
    }
    if (fclose(f) != 0 || rename(tmp, path) < 0)
        return -1;
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    if (dfd < 0)
        return -1;
    int r = fsync(dfd);
    close(dfd);
    return r;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s STATE_FILE N\n", argv[0]);
        return 2;
    }
    long n = strtol(argv[2], NULL, 10);
    for (long i = 1; i <= n; i++) {
        if (save(argv[1], i) < 0) {
            perror(argv[1]);
            return 1;
        }
        printf("saved %ld\n", i);
        fflush(stdout);
    }
    return 0;
}
