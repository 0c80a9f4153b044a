/* SPDX-License-Identifier: MIT */
/*
 * sensord.c - the demo's small service: an HTTP/1.1 server that keeps a counter of readings in
 * a JSON state file, the way a gateway on a Raspberry Pi keeps its state across power cuts.
 *
 *   sensord [--naive] [--port N] [--state FILE]
 *     GET  /health    200 "ok" once the state is loaded
 *     GET  /reading   200 {"count": N}
 *     POST /reading   count + 1, saved before the answer (503 if it cannot be saved)
 *
 * The careful way saves with the atomic-write recipe (write FILE.tmp, fsync, rename, fsync the
 * directory), keeps the previous good state as FILE.bak, and on start falls back to it when
 * FILE is damaged. The naive way rewrites FILE in place, checks nothing, and refuses to start
 * on a damaged file: the code most people write first. A thread per connection, keep-alive.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool naive;
static const char *state_path = "state.json";
static long count;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static bool parse_state(const char *path, long *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char buf[256] = {0}, tail[8];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    return n > 0 && sscanf(buf, " {\"count\": %ld}%7s", out, tail) == 1;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

static int save(long value)
{
    char text[64];
    int len = snprintf(text, sizeof(text), "{\"count\": %ld}\n", value);
    if (naive) {
        FILE *f = fopen(state_path, "w");
        if (!f)
            return 0; /* the naive way does not look */
        fputs(text, f);
        fclose(f);
        return 0;
    }
    char tmp[4096], bak[4096], dir[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", state_path);
    snprintf(bak, sizeof(bak), "%s.bak", state_path);
    snprintf(dir, sizeof(dir), "%s", state_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (write_all(fd, text, (size_t)len) < 0 || fsync(fd) < 0) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) < 0)
        return -1;
    long old;
    if (parse_state(state_path, &old)) {
        /* keep the last good state for a bad day, replaced atomically too */
        char baktmp[4200];
        snprintf(baktmp, sizeof(baktmp), "%s.tmp", bak);
        unlink(baktmp);
        if (link(state_path, baktmp) == 0)
            rename(baktmp, bak);
    }
    if (rename(tmp, state_path) < 0)
        return -1;
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        int rc = fsync(dfd);
        close(dfd);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int load(void)
{
    if (access(state_path, F_OK) < 0 && errno == ENOENT) {
        count = 0;
        return 0;
    }
    if (parse_state(state_path, &count))
        return 0;
    if (naive) {
        fprintf(stderr, "sensord: %s is damaged\n", state_path);
        return -1;
    }
    char bak[4096];
    snprintf(bak, sizeof(bak), "%s.bak", state_path);
    if (parse_state(bak, &count)) {
        fprintf(stderr, "sensord: %s is damaged; using the last good state (%ld)\n", state_path,
                count);
        return save(count) < 0 ? -1 : 0;
    }
    fprintf(stderr, "sensord: %s is damaged and there is no good backup: starting at 0\n",
            state_path);
    count = 0;
    return save(count) < 0 ? -1 : 0;
}

static void reply(int fd, int status, const char *reason, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     status, reason, strlen(body));
    if (write_all(fd, head, (size_t)n) == 0)
        write_all(fd, body, strlen(body));
}

/* One connection: requests until the client closes (bodies are not expected). */
static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[8192];
    size_t have = 0;
    for (;;) {
        char *end = have ? memmem(buf, have, "\r\n\r\n", 4) : NULL;
        if (!end) {
            if (have == sizeof(buf))
                break;
            ssize_t n = read(fd, buf + have, sizeof(buf) - have);
            if (n <= 0)
                break;
            have += (size_t)n;
            continue;
        }
        size_t used = (size_t)(end - buf) + 4;
        char body[128];
        if (!strncmp(buf, "GET /health ", 12)) {
            reply(fd, 200, "OK", "\"ok\"\n");
        } else if (!strncmp(buf, "GET /reading ", 13)) {
            pthread_mutex_lock(&lock);
            snprintf(body, sizeof(body), "{\"count\": %ld}\n", count);
            pthread_mutex_unlock(&lock);
            reply(fd, 200, "OK", body);
        } else if (!strncmp(buf, "POST /reading ", 14)) {
            pthread_mutex_lock(&lock);
            bool saved = save(count + 1) == 0;
            if (saved)
                count++;
            snprintf(body, sizeof(body), "{\"count\": %ld}\n", count);
            pthread_mutex_unlock(&lock);
            if (saved)
                reply(fd, 200, "OK", body);
            else
                reply(fd, 503, "Service Unavailable", "{\"error\": \"cannot save\"}\n");
        } else {
            reply(fd, 404, "Not Found", "{\"error\": \"no such path\"}\n");
        }
        memmove(buf, buf + used, have - used);
        have -= used;
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    int port = 8080;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--naive"))
            naive = true;
        else if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--state") && i + 1 < argc)
            state_path = argv[++i];
        else {
            fprintf(stderr, "usage: sensord [--naive] [--port N] [--state FILE]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    if (load() < 0)
        return 1;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 64) < 0) {
        fprintf(stderr, "sensord: port %d: %s\n", port, strerror(errno));
        return 1;
    }
    fprintf(stderr, "sensord: serving count=%ld on 127.0.0.1:%d (%s)\n", count, port,
            naive ? "naive" : "careful");
    for (;;) {
        int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        pthread_t t;
        if (pthread_create(&t, NULL, serve, (void *)(intptr_t)c) == 0)
            pthread_detach(t);
        else
            close(c);
    }
}
