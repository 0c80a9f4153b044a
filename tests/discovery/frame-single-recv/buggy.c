/* SPDX-License-Identifier: MIT */
/* ask: sends TEXT as a request line to a framed server at HOST:PORT and prints the reply it
 * gets, one frame: a 4-byte big-endian length, then that many bytes. Usage: ask HOST PORT TEXT
 * BUG: the frame is read with one recv(), as if it always arrived whole. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
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

/* reads one frame into buf; returns the payload's length, or -1 (errno set) */
static long read_frame(int fd, char *buf, size_t size)
{
    char frame[4 + 4096] = {0};
    uint32_t len;
    if (recv(fd, frame, sizeof frame, 0) < 0)
        return -1;
    memcpy(&len, frame, 4);
    len = ntohl(len);
    if (len > size || len > sizeof frame - 4)
        return errno = EMSGSIZE, -1;
    memcpy(buf, frame + 4, len);
    return (long)len;
}

int main(int argc, char **argv)
{
    char req[1024], reply[4096];
    if (argc != 4) {
        fprintf(stderr, "usage: ask HOST PORT TEXT\n");
        return 2;
    }
    int fd = dial(argv[1], argv[2]);
    int n = snprintf(req, sizeof req, "%s\n", argv[3]);
    if (fd < 0 || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        fprintf(stderr, "ask: %s:%s: %s\n", argv[1], argv[2], strerror(errno));
        return 1;
    }
    long len = read_frame(fd, reply, sizeof reply);
    if (len < 0) {
        fprintf(stderr, "ask: reading the reply: %s\n", strerror(errno));
        return 1;
    }
    close(fd);
    printf("reply: %.*s\n", (int)len, reply);
    return 0;
}
