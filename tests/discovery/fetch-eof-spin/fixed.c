/* SPDX-License-Identifier: MIT */
/* fetch: reads a listing that a server streams on connect, lines up to an "END" line, and
 * prints each line and then "N lines". Usage: fetch HOST PORT
 * FIXED: recv() == 0 is the end of the stream: before END, an error (exit 1). */
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

/* reads into buf until it holds "\nEND\n" (or starts with "END\n"); -1 on error */
static int read_listing(int fd, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    while (!strstr(buf, "\nEND\n") && strncmp(buf, "END\n", 4) != 0) {
        char chunk[64];
        if (len + sizeof chunk >= size)
            return errno = EMSGSIZE, -1;
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return errno = ECONNRESET, -1; /* closed before END */
        memcpy(buf + len, chunk, (size_t)n);
        len += (size_t)n;
        buf[len] = '\0';
    }
    return 0;
}

int main(int argc, char **argv)
{
    static char listing[1 << 16];
    if (argc != 3) {
        fprintf(stderr, "usage: fetch HOST PORT\n");
        return 2;
    }
    int fd = dial(argv[1], argv[2]);
    if (fd < 0 || read_listing(fd, listing, sizeof listing) < 0) {
        fprintf(stderr, "fetch: %s:%s: %s\n", argv[1], argv[2], strerror(errno));
        return 1;
    }
    close(fd);
    int lines = 0;
    for (char *p = listing; strncmp(p, "END\n", 4) != 0; p = strchr(p, '\n') + 1, lines++)
        printf("%.*s\n", (int)(strchr(p, '\n') - p), p);
    printf("%d lines\n", lines);
    return 0;
}
