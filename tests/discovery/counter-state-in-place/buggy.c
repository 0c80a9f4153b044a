/* SPDX-License-Identifier: MIT */
/* counter: adds one to the count kept in a small JSON state file ({"count": N}) and prints
 * "count N" once the new count is saved. Usage: counter STATE_FILE
 * BUG: the state is rewritten in place (O_TRUNC, then write): dying in between leaves it empty. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int load(const char *path, long *count)
{
    char buf[256];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        *count = 0;
        return errno == ENOENT ? 0 : -1;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    const char *p = strstr(buf, "\"count\":");
    if (!p)
        return -1;
    *count = strtol(p + 8, NULL, 10);
    return 0;
}

static int save(const char *path, long count)
{
    char buf[64];
    int len = snprintf(buf, sizeof buf, "{\"count\": %ld}\n", count);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    if (write_all(fd, buf, (size_t)len) < 0) {
        close(fd);
        return -1;
    }
    return close(fd);
}

int main(int argc, char **argv)
{
    long count;
    if (argc != 2) {
        fprintf(stderr, "usage: counter STATE_FILE\n");
        return 2;
    }
    if (load(argv[1], &count) < 0) {
        fprintf(stderr, "counter: cannot load %s\n", argv[1]);
        return 1;
    }
    if (save(argv[1], count + 1) < 0) {
        fprintf(stderr, "counter: cannot save %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    printf("count %ld\n", count + 1);
    return 0;
}
