/* SPDX-License-Identifier: MIT */
/*
 * proxy-load.c - the load generator and loopback servers of bench/proxy.
 *
 *   proxy-load sink PORT            accept, read and discard; close at EOF
 *   proxy-load echo PORT            accept, echo every byte back; close at EOF
 *       (PORT 0: an ephemeral port; both print the bound port on stdout, then serve until
 *       killed. One thread, epoll, so 10,000 idle connections cost only their sockets.)
 *   proxy-load bulk HOST PORT BYTES one stream: connect, send BYTES, shutdown(SHUT_WR), wait
 *                                   for the sink's EOF; prints "bulk MB/s" (10^6 B/s), timed
 *                                   from connect to the EOF
 *   proxy-load rtt HOST PORT N      64-byte ping-pong on one TCP_NODELAY connection, 200
 *                                   warm-up rounds then N timed; prints "rtt P50 P99 MAX MIN"
 *                                   in microseconds
 *   proxy-load idle HOST PORT N     open N connections, check each end to end with one 1-byte
 *                                   echo round trip, print "ready N", then hold them until
 *                                   stdin reaches EOF
 *   proxy-load relay PORT UPHOST UPPORT [DELAY_MS]
 *                                   the floor: the least work any user-space TCP relay does.
 *                                   Two threads per connection, each a blocking read() then
 *                                   write() loop, no event loop, no buffering, no toxics;
 *                                   prints the bound port like the servers. What it costs over
 *                                   a direct connection is the extra hop itself on this machine.
 *                                   With DELAY_MS, what comes back from upstream is written
 *                                   DELAY_MS after it was read (an absolute clock_nanosleep with
 *                                   1 ns timer slack): the floor of a latency toxic.
 *
 * It links nothing of faultline's: both ends of the measurement are the same in the direct
 * and the proxied runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

_Noreturn static void die(const char *what)
{
    fprintf(stderr, "proxy-load: %s: %s\n", what, strerror(errno));
    exit(2);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int dial(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int r = getaddrinfo(host, port, &hints, &res);
    if (r != 0) {
        fprintf(stderr, "proxy-load: %s:%s: %s\n", host, port, gai_strerror(r));
        exit(2);
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, res->ai_addr, res->ai_addrlen) < 0)
        die("connect");
    freeaddrinfo(res);
    return fd;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd pf = {.fd = fd, .events = POLLOUT};
                poll(&pf, 1, -1);
                continue;
            }
            die("write");
        }
        p += w;
        n -= (size_t)w;
    }
}

static void read_exactly(int fd, char *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("read");
        if (r == 0) {
            fprintf(stderr, "proxy-load: unexpected EOF\n");
            exit(2);
        }
        p += r;
        n -= (size_t)r;
    }
}

/* ---- servers ------------------------------------------------------------------------------ */

/* Listen on 127.0.0.1:PORT (0: ephemeral) and print the bound port for bench/proxy. */
static int listen_loopback(const char *port, int type_flags)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | type_flags, 0);
    if (ls < 0)
        die("socket");
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("bind");
    if (listen(ls, 4096) < 0)
        die("listen");
    socklen_t sl = sizeof(sa);
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    printf("%u\n", ntohs(sa.sin_port));
    fflush(stdout);
    return ls;
}

static int serve(const char *port, int echo)
{
    int ls = listen_loopback(port, SOCK_NONBLOCK);
    int one = 1;

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    static char buf[256 * 1024];
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                for (;;) {
                    int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0)
                        break;
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            for (;;) {
                ssize_t r = read(fd, buf, sizeof(buf));
                if (r > 0) {
                    if (echo)
                        write_all(fd, buf, (size_t)r);
                    if ((size_t)r < sizeof(buf))
                        break; /* level-triggered: more comes back as another event */
                    continue;
                }
                if (r < 0 && errno == EAGAIN)
                    break;
                if (r < 0 && errno == EINTR)
                    continue;
                close(fd); /* EOF or error: drops it from the epoll set */
                break;
            }
        }
    }
    return 0;
}

/* ---- the floor relay ---------------------------------------------------------------------- */

struct relay_dir {
    int from, to;
    long delay_ns; /* hold each read this long before writing it */
    struct relay_pair *pair;
};

struct relay_pair {
    struct relay_dir dir[2];
    pthread_mutex_t mu;
    int done;
};

static void *relay_copy(void *arg)
{
    struct relay_dir *d = arg;
    static __thread char buf[256 * 1024];
    for (;;) {
        ssize_t r = read(d->from, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (d->delay_ns) {
            struct timespec t;
            clock_gettime(CLOCK_MONOTONIC, &t);
            t.tv_nsec += d->delay_ns % 1000000000L;
            t.tv_sec += d->delay_ns / 1000000000L + t.tv_nsec / 1000000000L;
            t.tv_nsec %= 1000000000L;
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
                ;
        }
        size_t off = 0;
        while (off < (size_t)r) {
            ssize_t w = write(d->to, buf + off, (size_t)r - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                goto out;
            off += (size_t)w;
        }
    }
out:
    shutdown(d->to, SHUT_WR);
    struct relay_pair *p = d->pair;
    pthread_mutex_lock(&p->mu);
    int last = ++p->done == 2;
    pthread_mutex_unlock(&p->mu);
    if (last) {
        close(p->dir[0].from);
        close(p->dir[0].to);
        free(p);
    }
    return NULL;
}

static int relay(const char *port, const char *uphost, const char *upport, long delay_ms)
{
    (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); /* as faultline proxy's loop */
    int ls = listen_loopback(port, 0);
    int one = 1;
    for (;;) {
        int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die("accept");
        }
        int u = dial(uphost, upport);
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct relay_pair *p = calloc(1, sizeof(*p));
        if (!p)
            die("calloc");
        pthread_mutex_init(&p->mu, NULL);
        p->dir[0] = (struct relay_dir){.from = c, .to = u, .pair = p};
        p->dir[1] = (struct relay_dir){.from = u, .to = c, .pair = p,
                                       .delay_ns = delay_ms * 1000000L};
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_t t;
        for (int i = 0; i < 2; i++)
            if (pthread_create(&t, &at, relay_copy, &p->dir[i]) != 0)
                die("pthread_create");
        pthread_attr_destroy(&at);
    }
}

/* ---- clients ------------------------------------------------------------------------------ */

static int bulk(const char *host, const char *port, unsigned long long bytes)
{
    static char buf[256 * 1024];
    memset(buf, 'x', sizeof(buf));
    double t0 = now_us();
    int fd = dial(host, port);
    unsigned long long left = bytes;
    while (left) {
        size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
        write_all(fd, buf, n);
        left -= n;
    }
    shutdown(fd, SHUT_WR);
    for (;;) { /* the sink closes at our EOF: every byte has gone through */
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r == 0 || (r < 0 && errno != EINTR))
            break;
    }
    double t = now_us() - t0;
    close(fd);
    printf("bulk %.1f\n", (double)bytes / t);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int rtt(const char *host, const char *port, long n)
{
    int fd = dial(host, port);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char out[64], in[64];
    memset(out, 'p', sizeof(out));
    double *s = malloc((size_t)n * sizeof(double));
    if (!s)
        die("malloc");
    for (long i = -200; i < n; i++) {
        double t0 = now_us();
        write_all(fd, out, sizeof(out));
        read_exactly(fd, in, sizeof(in));
        double t = now_us() - t0;
        if (i >= 0)
            s[i] = t;
    }
    close(fd);
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    /* Nearest-rank percentiles. */
    long i50 = (n * 50 + 99) / 100 - 1, i99 = (n * 99 + 99) / 100 - 1;
    printf("rtt %.2f %.2f %.2f %.2f\n", s[i50 < 0 ? 0 : i50], s[i99 < 0 ? 0 : i99], s[n - 1],
           s[0]);
    free(s);
    return 0;
}

static int idle(const char *host, const char *port, long n)
{
    int *fds = malloc((size_t)n * sizeof(int));
    if (!fds)
        die("malloc");
    for (long i = 0; i < n; i++) {
        fds[i] = dial(host, port);
        /* Check every 256 connections (and at the end) that they reach the echo server, so
         * that the proxy does not fall far behind the kernel's accept queue. */
        if ((i + 1) % 256 == 0 || i == n - 1) {
            long first = i - i % 256;
            for (long j = first; j <= i; j++)
                write_all(fds[j], "x", 1);
            for (long j = first; j <= i; j++) {
                char c;
                read_exactly(fds[j], &c, 1);
            }
        }
    }
    printf("ready %ld\n", n);
    fflush(stdout);
    char b[64];
    while (read(0, b, sizeof(b)) > 0)
        ;
    for (long i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "sink"))
        return serve(argv[2], 0);
    if (argc == 3 && !strcmp(argv[1], "echo"))
        return serve(argv[2], 1);
    if (argc == 5 && !strcmp(argv[1], "bulk"))
        return bulk(argv[2], argv[3], strtoull(argv[4], NULL, 10));
    if (argc == 5 && !strcmp(argv[1], "rtt") && atol(argv[4]) > 0)
        return rtt(argv[2], argv[3], atol(argv[4]));
    if (argc == 5 && !strcmp(argv[1], "idle") && atol(argv[4]) > 0)
        return idle(argv[2], argv[3], atol(argv[4]));
    if ((argc == 5 || argc == 6) && !strcmp(argv[1], "relay"))
        return relay(argv[2], argv[3], argv[4], argc == 6 ? atol(argv[5]) : 0);
    fprintf(stderr, "usage: proxy-load sink|echo PORT\n"
                    "       proxy-load bulk HOST PORT BYTES\n"
                    "       proxy-load rtt HOST PORT N\n"
                    "       proxy-load idle HOST PORT N\n"
                    "       proxy-load relay PORT UPHOST UPPORT [DELAY_MS]\n");
    return 2;
}
