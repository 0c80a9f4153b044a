/* SPDX-License-Identifier: MIT */
/* ship: sends each MSG as a line to a collector at HOST:PORT over one connection, waits for
 * its "ok" line and prints "delivered MSG". Usage: ship HOST PORT MSG...
 * BUG: when the collector closes the connection (a restart), it gives up on the rest. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
        close(fd);
        return -1;
    }
    return fd;
}

/* sends "msg\n" and waits for the "ok\n" line; -1 (errno set) if the connection failed */
static int deliver(int fd, const char *msg)
{
    char line[512], ack[8];
    size_t len = 0;
    int n = snprintf(line, sizeof line, "%s\n", msg);
    if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n)
        return -1;
    while (len < 3) {
        ssize_t got = recv(fd, ack + len, 3 - len, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return got == 0 ? (errno = ECONNRESET, -1) : -1;
        len += (size_t)got;
    }
    return memcmp(ack, "ok\n", 3) == 0 ? 0 : (errno = EPROTO, -1);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: ship HOST PORT MSG...\n");
        return 2;
    }
    int fd = dial(argv[1], argv[2]);
    if (fd < 0) {
        fprintf(stderr, "ship: connect %s:%s: %s\n", argv[1], argv[2], strerror(errno));
        return 1;
    }
    for (int i = 3; i < argc; i++) {
        if (deliver(fd, argv[i]) < 0) {
            fprintf(stderr, "ship: %s: %s; giving up\n", argv[i], strerror(errno));
            return 1;
        }
        printf("delivered %s\n", argv[i]);
    }
    close(fd);
    return 0;
}
