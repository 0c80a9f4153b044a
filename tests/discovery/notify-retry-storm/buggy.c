/* SPDX-License-Identifier: MIT */
/* notify: delivers one MESSAGE line to a collector at HOST:PORT, waits for its "ok" and
 * prints "notified". It expects the collector to be restarting now and then, so a refused
 * connection is tried again. Usage: notify HOST PORT MESSAGE
 * BUG: a refused connect is retried every millisecond, forever: it storms a down collector. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int dial(const char *host, const char *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return errno = EINVAL, -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        return errno = e, -1;
    }
    return fd;
}

static int dial_retrying(const char *host, const char *port)
{
    int fd;
    while ((fd = dial(host, port)) < 0 && errno == ECONNREFUSED) {
        struct timespec pause = {0, 1000000L};
        nanosleep(&pause, NULL);
    }
    return fd;
}

int main(int argc, char **argv)
{
    char line[512], ack[3];
    size_t got = 0;
    if (argc != 4) {
        fprintf(stderr, "usage: notify HOST PORT MESSAGE\n");
        return 2;
    }
    int fd = dial_retrying(argv[1], argv[2]);
    if (fd < 0) {
        fprintf(stderr, "notify: %s:%s: %s\n", argv[1], argv[2], strerror(errno));
        return 1;
    }
    int n = snprintf(line, sizeof line, "%s\n", argv[3]);
    if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
        fprintf(stderr, "notify: sending: %s\n", strerror(errno));
        return 1;
    }
    for (ssize_t r = 1; got < sizeof ack && r > 0; got += (size_t)r)
        if ((r = recv(fd, ack + got, sizeof ack - got, 0)) <= 0)
            r = 0;
    if (got < sizeof ack || memcmp(ack, "ok\n", 3) != 0) {
        fprintf(stderr, "notify: no ok from the collector\n");
        return 1;
    }
    close(fd);
    printf("notified\n");
    return 0;
}
