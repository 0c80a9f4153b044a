/* SPDX-License-Identifier: MIT */
/* probe: a health probe. Connects to HOST:PORT, sends "PING\n", waits for the line the
 * server answers and prints "reply: LINE". Usage: probe HOST PORT
 * FIXED: each recv() first waits in poll() for REPLY_TIMEOUT_MS at most, then gives up (exit 1). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REPLY_TIMEOUT_MS 1000

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

/* reads one line into buf (without its newline); -1 on error or end of stream */
static int read_line(int fd, char *buf, size_t size)
{
    size_t len = 0;
    while (len + 1 < size) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ready = poll(&p, 1, REPLY_TIMEOUT_MS);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return ready == 0 ? (errno = ETIMEDOUT, -1) : -1;
        ssize_t n = recv(fd, buf + len, size - 1 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? (errno = ECONNRESET, -1) : -1;
        len += (size_t)n;
        char *nl = memchr(buf, '\n', len);
        if (nl) {
            *nl = '\0';
            return 0;
        }
    }
    return errno = EMSGSIZE, -1;
}

int main(int argc, char **argv)
{
    char reply[256];
    if (argc != 3) {
        fprintf(stderr, "usage: probe HOST PORT\n");
        return 2;
    }
    int fd = dial(argv[1], argv[2]);
    if (fd < 0) {
        fprintf(stderr, "probe: connect %s:%s: %s\n", argv[1], argv[2], strerror(errno));
        return 1;
    }
    if (send(fd, "PING\n", 5, MSG_NOSIGNAL) != 5 || read_line(fd, reply, sizeof reply) < 0) {
        fprintf(stderr, "probe: %s:%s: %s\n", argv[1], argv[2], strerror(errno));
        return 1;
    }
    close(fd);
    printf("reply: %s\n", reply);
    return 0;
}
