/* SPDX-License-Identifier: MIT */
/* symlink: saves the count COUNT into state.json.1 ({"count": COUNT}), fsyncs it, and points
 * the symlink STATE_FILE at it (a scheme some programs use to switch versions).
 * Usage: symlink STATE_FILE COUNT
 * For faultline crash's tests: the recorder logs symlink creation as UNTRACKED (crash states
 * do not model it), and the run must be refused (exit 3), never judged. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s STATE_FILE COUNT\n", argv[0]);
        return 2;
    }
    char buf[64], target[4096];
    int len = snprintf(buf, sizeof(buf), "{\"count\": %ld}\n", strtol(argv[2], NULL, 10));
    snprintf(target, sizeof(target), "%s.1", argv[1]);
    int fd = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, buf, (size_t)len) != len || fsync(fd) < 0) {
        perror(target);
        return 1;
    }
    close(fd);
    if (unlink(argv[1]) < 0 || symlink(target, argv[1]) < 0) {
        perror(argv[1]);
        return 1;
    }
    printf("saved %ld\n", strtol(argv[2], NULL, 10));
    return 0;
}
