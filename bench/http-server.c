/* SPDX-License-Identifier: MIT */
/*
 * http-server.c - the trivial HTTP/1.1 server of bench/runner.
 *
 *   http-server PORT [THREADS]     PORT 0: an ephemeral port; prints the bound port on stdout,
 *                                  then serves until killed
 *   http-server --floor PORT RATE SECONDS
 *                                  the cheapest possible open-loop client, as a CPU baseline:
 *                                  one blocking connection, clock_nanosleep to each due time,
 *                                  one write, one read (so two wake-ups and three syscalls per
 *                                  request, no event loop); prints "floor N" (requests)
 *
 * Every request (anything up to a blank line; bodies are not expected) gets the same 13-byte
 * keep-alive response, written with one write(2). THREADS (default 1) threads share one
 * listening socket through SO_REUSEPORT, each with its own epoll, so the server can be made
 * fast enough that the load generators, not the server, set the top rate. It links nothing of
 * faultline's: wrk and `faultline load` meet exactly the same server.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define BUF 16384

static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

_Noreturn static void die(const char *what)
{
    fprintf(stderr, "http-server: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* A non-negative decimal int, or -1. */
static int num(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return !*s || *end || v < 0 || v > 1000000000L ? -1 : (int)v;
}

/* Per connection: how far into "\r\n\r\n" the bytes seen so far have matched. */
struct conn {
    int fd;
    int match;
};

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0)
        die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        die("bind");
    if (listen(fd, 4096) < 0)
        die("listen");
    return fd;
}

static void *serve(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
        die("epoll_ctl");
    static __thread char buf[BUF];
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct conn *nc = calloc(1, sizeof(*nc));
                    if (!nc) {
                        close(fd);
                        continue;
                    }
                    nc->fd = fd;
                    struct epoll_event ce = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce);
                }
                continue;
            }
            ssize_t r = read(c->fd, buf, sizeof(buf));
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                close(c->fd);
                free(c);
                continue;
            }
            /* Count the requests in what arrived (pipelining works too) and answer each. */
            int answers = 0;
            for (ssize_t k = 0; k < r; k++) {
                char want = "\r\n\r\n"[c->match];
                c->match = buf[k] == want ? c->match + 1 : buf[k] == '\r' ? 1 : 0;
                if (c->match == 4) {
                    answers++;
                    c->match = 0;
                }
            }
            for (int a = 0; a < answers; a++)
                if (write(c->fd, response, sizeof(response) - 1) < 0)
                    break;
        }
    }
    return NULL;
}

/* The baseline bench/runner compares faultline load's CPU with: nothing can do less per
 * request than sleeping until it is due, writing it and reading the answer. */
static int floor_client(int port, int rate, int seconds)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    char buf[4096];
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long period = 1000000000L / rate, n = (long)rate * seconds, done = 0;
    for (long i = 0; i < n; i++) {
        t.tv_nsec += period;
        while (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
        if (write(fd, req, sizeof(req) - 1) < 0 || read(fd, buf, sizeof(buf)) <= 0)
            die("request");
        done++;
    }
    printf("floor %ld\n", done);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "--floor")) {
        int port = num(argv[2]), rate = num(argv[3]), secs = num(argv[4]);
        if (port < 1 || port > 65535 || rate < 1 || rate > 1000000 || secs < 1) {
            fprintf(stderr, "usage: http-server --floor PORT RATE SECONDS\n");
            return 2;
        }
        return floor_client(port, rate, secs);
    }
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: http-server PORT [THREADS]\n");
        return 2;
    }
    int port = num(argv[1]), threads = argc == 3 ? num(argv[2]) : 1;
    if (port < 0 || port > 65535 || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: http-server PORT [THREADS]  (THREADS 1 to 64)\n");
        return 2;
    }
    int lfd = listen_on(port);
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    getsockname(lfd, (struct sockaddr *)&a, &len);
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    for (int t = 1; t < threads; t++) {
        pthread_t th;
        if (pthread_create(&th, NULL, serve, (void *)(intptr_t)lfd) != 0)
            die("pthread_create");
    }
    serve((void *)(intptr_t)lfd);
    return 0;
}
