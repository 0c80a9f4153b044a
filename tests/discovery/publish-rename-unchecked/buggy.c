/* SPDX-License-Identifier: MIT */
/* publish: replaces a settings file with a new version, atomically: it writes
 * {"version": V, "mode": MODE} to FILE.tmp, fsyncs it, renames it over FILE and prints
 * "published version V". Usage: publish FILE VERSION MODE
 * BUG: rename()'s result is not checked: when it fails, it still says "published". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_file(const char *path, const char *text)
{
    size_t len = strlen(text);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    while (len > 0) {
        ssize_t n = write(fd, text, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            return -1;
        }
        text += n;
        len -= (size_t)n;
    }
    if (fsync(fd) < 0) {
        close(fd);
        return -1;
    }
    return close(fd);
}

static int publish(const char *path, long version, const char *mode)
{
    char tmp[4096], text[512];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(text, sizeof text, "{\"version\": %ld, \"mode\": \"%s\"}\n", version, mode);
    if (write_file(tmp, text) < 0) {
        unlink(tmp);
        return -1;
    }
    rename(tmp, path);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: publish FILE VERSION MODE\n");
        return 2;
    }
    long version = strtol(argv[2], NULL, 10);
    if (publish(argv[1], version, argv[3]) < 0) {
        fprintf(stderr, "publish: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    printf("published version %ld\n", version);
    return 0;
}
