/* SPDX-License-Identifier: MIT */
/*
 * statekeeper.c - the demo's victim: a tiny program that keeps a counter in a JSON state file,
 * the way a controller on a Raspberry Pi keeps its state across power cuts.
 *
 *   statekeeper [--naive] FILE   read {"count": N} from FILE (0 if missing), save N+1
 *   statekeeper --check FILE     print "valid count=N" or "corrupt: why" (exit 0 / 1)
 *
 * The careful way saves with the atomic-write recipe: write FILE.tmp, fsync, rename over FILE,
 * fsync the directory, and checks every step. The naive way rewrites FILE in place with stdio
 * and checks nothing: the code most people write first.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int load(const char *path, long *count, char *why, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) {
            *count = 0;
            return 0;
        }
        snprintf(why, len, "cannot open: %s", strerror(errno));
        return -1;
    }
    char buf[256] = {0};
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    char tail[8];
    if (n == 0) {
        snprintf(why, len, "empty file");
        return -1;
    }
    if (sscanf(buf, " {\"count\": %ld}%7s", count, tail) != 1) {
        snprintf(why, len, "not the expected JSON: '%.40s'", buf);
        return -1;
    }
    return 0;
}

static int save_careful(const char *path, long count)
{
    char tmp[4096], dir[4096], text[64];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    snprintf(dir, sizeof(dir), "%s", path);
    int len = snprintf(text, sizeof(text), "{\"count\": %ld}\n", count);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    ssize_t w = write(fd, text, (size_t)len);
    if (w != len) {
        if (w >= 0)
            errno = EIO; /* a short write is a failure for a state file */
        goto fail_fd;
    }
    if (fsync(fd) < 0)
        goto fail_fd;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    if (rename(tmp, path) < 0)
        goto fail;
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) < 0) {
            close(dfd);
            goto fail;
        }
        close(dfd);
    }
    return 0;
fail_fd: {
    int e = errno;
    close(fd);
    errno = e;
}
fail: {
    int e = errno;
    unlink(tmp);
    fprintf(stderr, "statekeeper: cannot save state: %s\n", strerror(e));
    return -1;
}
}

static int save_naive(const char *path, long count)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "{\"count\": %ld}\n", count);
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    char why[256];
    long count;
    if (argc == 3 && !strcmp(argv[1], "--check")) {
        if (load(argv[2], &count, why, sizeof(why)) < 0) {
            printf("corrupt: %s\n", why);
            return 1;
        }
        printf("valid count=%ld\n", count);
        return 0;
    }
    int naive = argc == 3 && !strcmp(argv[1], "--naive");
    if (argc != 2 + naive) {
        fprintf(stderr, "usage: statekeeper [--naive|--check] FILE\n");
        return 2;
    }
    const char *path = argv[1 + naive];
    if (load(path, &count, why, sizeof(why)) < 0) {
        fprintf(stderr, "statekeeper: %s: %s\n", path, why);
        return 1;
    }
    if (naive)
        return save_naive(path, count + 1) < 0 ? 1 : 0;
    return save_careful(path, count + 1) < 0 ? 1 : 0;
}
