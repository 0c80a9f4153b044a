/* SPDX-License-Identifier: MIT */
/* mmap-msync: saves a counter N times (1 to 9) into an existing state.json of 13 bytes
 * ({"count": I}) through a shared mapping, printing "saved I" once save I returned.
 * Usage: mmap-msync STATE_FILE N
 * FIXED: msync(MS_SYNC) before "saved": the page is on disk when the count is acknowledged
 * (one page, one record: the overwrite is not torn). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int save(const char *path, long count)
{
    char buf[64];
    int len = snprintf(buf, sizeof(buf), "{\"count\": %ld}\n", count);
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return -1;
    char *p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return -1;
    memcpy(p, buf, (size_t)len);
    int r = msync(p, (size_t)len, MS_SYNC);
    munmap(p, (size_t)len);
    return r;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s STATE_FILE N\n", argv[0]);
        return 2;
    }
    long n = strtol(argv[2], NULL, 10);
    for (long i = 1; i <= n && i <= 9; i++) {
        if (save(argv[1], i) < 0) {
            perror(argv[1]);
            return 1;
        }
        printf("saved %ld\n", i);
        fflush(stdout);
    }
    return 0;
}
