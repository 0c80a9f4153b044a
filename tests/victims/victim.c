/* SPDX-License-Identifier: MIT */
/*
 * victim.c - a small program the integration tests run under `faultline inject`.
 *
 * It does one scripted thing per invocation and prints, one line per call, what libc told it:
 * "<call> <return value> [ERRNO_NAME]". The tests assert on those lines, so what is checked is
 * what a real program would see.
 *
 *   victim write PATH BYTES [CHUNK]     open+write BYTES of 'x' in CHUNK-sized writes, close
 *   victim pwrite PATH BYTES            one pwrite at offset 0
 *   victim writev PATH BYTES            one writev of two halves
 *   victim read PATH [BYTES]            one read; prints the bytes read in hex
 *   victim fsync PATH COUNT             COUNT fsyncs (then fdatasync once)
 *   victim stdio PATH TEXT              fopen, fputs, fprintf, fwrite, fflush, fclose
 *   victim stdio-close PATH TEXT        fopen, fprintf (buffered), fclose only
 *   victim fread PATH                   fopen+fread+fgets; prints hex
 *   victim open PATH                    open O_RDONLY
 *   victim meta DIR                     mkdir, rename, unlink, ftruncate, fallocate
 *   victim rand N                       srand(7), prints N values of rand(), writing a line
 *                                       to /dev/null between each (so rules have calls to hit)
 *   victim writes PATH N                N single-byte writes; prints a string of . (ok) and
 *                                       E (error) for the pattern of faults
 *   victim malloc N                     N malloc(64)/free; prints the indexes that got NULL
 *   victim threads T N                  T threads x N writes to /dev/null; prints the errors
 *   victim forkwhile                    a thread sits in a slow wrapped call while the main
 *                                       thread forks 20 children that each use libc; "done"
 *   victim time                         time(), gettimeofday(), clock_gettime(REALTIME)
 *   victim dns NAME                     getaddrinfo; "dns 0" or "dns EAI_AGAIN"
 *   victim connect HOST PORT            TCP connect; "connect 0" or "connect -1 ECONNREFUSED"
 *   victim loop-read PATH SECONDS       read PATH every 50ms for SECONDS; prints each outcome
 *                                       change, for runtime-control tests
 *   victim spawn ARGS...                fork+exec ARGS (follow tests); prints child status
 *   victim sleep SECONDS                sleep (timeout tests)
 *   victim abort                        abort() (signal tests)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *en(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

static void report(const char *call, long rc, int e)
{
    if (rc < 0)
        printf("%s %ld %s\n", call, rc, en(e));
    else
        printf("%s %ld\n", call, rc);
    fflush(stdout);
}

/* Evaluate the call before reading errno (argument order is unspecified in C). */
#define CALL(name, expr)                                                                          \
    do {                                                                                          \
        long rc_ = (long)(expr);                                                                  \
        int e_ = errno;                                                                           \
        report(name, rc_, e_);                                                                    \
    } while (0)

static void hex(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
    printf("\n");
}

static int do_write(const char *path, long bytes, long chunk)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CALL("open", fd);
    if (fd < 0)
        return 1;
    char *buf = malloc((size_t)bytes + 1);
    memset(buf, 'x', (size_t)bytes);
    long off = 0;
    while (off < bytes) {
        long n = chunk && chunk < bytes - off ? chunk : bytes - off;
        ssize_t w = write(fd, buf + off, (size_t)n);
        CALL("write", (long)w);
        if (w <= 0)
            break;
        off += w;
        if (!chunk)
            break;
    }
    free(buf);
    CALL("close", close(fd));
    return 0;
}

static void *thread_writes(void *arg)
{
    long n = (long)arg;
    int fd = open("/dev/null", O_WRONLY);
    long errors = 0;
    for (long i = 0; i < n; i++)
        if (write(fd, "x", 1) < 0)
            errors++;
    close(fd);
    return (void *)errors;
}

static void *slow_reader(void *arg)
{
    const char *path = arg;
    for (int i = 0; i < 200; i++) {
        int fd = open(path, O_RDONLY);
        char b[16];
        if (fd >= 0) {
            ssize_t r = read(fd, b, sizeof(b));
            (void)r;
            close(fd);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: victim COMMAND ...\n");
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "write") && argc >= 4)
        return do_write(argv[2], atol(argv[3]), argc > 4 ? atol(argv[4]) : 0);
    if (!strcmp(cmd, "pwrite") && argc >= 4) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        long n = atol(argv[3]);
        char *buf = calloc(1, (size_t)n + 1);
        memset(buf, 'p', (size_t)n);
        CALL("pwrite", (long)pwrite(fd, buf, (size_t)n, 0));
        close(fd);
        free(buf);
        return 0;
    }
    if (!strcmp(cmd, "writev") && argc >= 4) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        long n = atol(argv[3]);
        char *buf = calloc(1, (size_t)n + 1);
        memset(buf, 'v', (size_t)n);
        struct iovec iov[2] = {{buf, (size_t)n / 2}, {buf + n / 2, (size_t)(n - n / 2)}};
        CALL("writev", (long)writev(fd, iov, 2));
        close(fd);
        free(buf);
        return 0;
    }
    if (!strcmp(cmd, "read") && argc >= 3) {
        int fd = open(argv[2], O_RDONLY);
        CALL("open", fd);
        if (fd < 0)
            return 1;
        size_t n = argc > 3 ? (size_t)atol(argv[3]) : 4096;
        unsigned char *buf = calloc(1, n + 1);
        ssize_t r = read(fd, buf, n);
        CALL("read", (long)r);
        if (r > 0)
            hex(buf, (size_t)r);
        free(buf);
        close(fd);
        return 0;
    }
    if (!strcmp(cmd, "fsync") && argc >= 4) {
        int fd = open(argv[2], O_WRONLY | O_CREAT, 0644);
        for (long i = 0; i < atol(argv[3]); i++)
            CALL("fsync", fsync(fd));
        CALL("fdatasync", fdatasync(fd));
        close(fd);
        return 0;
    }
    if (!strcmp(cmd, "stdio") && argc >= 4) {
        FILE *f = fopen(argv[2], "w");
        CALL("fopen", f ? 0 : -1);
        if (!f)
            return 1;
        errno = 0;
        CALL("fputs", fputs(argv[3], f));
        CALL("fprintf", fprintf(f, "[%s]", argv[3]));
        CALL("fwrite", (long)fwrite(argv[3], 1, strlen(argv[3]), f));
        report("ferror", ferror(f), 0);
        CALL("fflush", fflush(f));
        CALL("fclose", fclose(f));
        return 0;
    }
    if (!strcmp(cmd, "stdio-close") && argc >= 4) {
        FILE *f = fopen(argv[2], "w");
        CALL("fopen", f ? 0 : -1);
        if (!f)
            return 1;
        CALL("fprintf", fprintf(f, "%s\n", argv[3]));
        CALL("fclose", fclose(f));
        return 0;
    }
    if (!strcmp(cmd, "fread") && argc >= 3) {
        FILE *f = fopen(argv[2], "r");
        CALL("fopen", f ? 0 : -1);
        if (!f)
            return 1;
        unsigned char buf[64] = {0};
        size_t n = fread(buf, 1, 8, f);
        CALL("fread", (long)n);
        hex(buf, n);
        char line[64];
        char *s = fgets(line, sizeof(line), f);
        CALL("fgets", s ? (long)strlen(s) : -1);
        report("ferror", ferror(f), 0);
        fclose(f);
        return 0;
    }
    if (!strcmp(cmd, "open") && argc >= 3) {
        int fd = open(argv[2], O_RDONLY);
        CALL("open", fd >= 0 ? 0 : -1);
        return 0;
    }
    if (!strcmp(cmd, "meta") && argc >= 3) {
        char a[4096], b[4096];
        snprintf(a, sizeof(a), "%s/sub", argv[2]);
        CALL("mkdir", mkdir(a, 0755));
        snprintf(a, sizeof(a), "%s/a.txt", argv[2]);
        snprintf(b, sizeof(b), "%s/b.txt", argv[2]);
        int fd = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        CALL("ftruncate", ftruncate(fd, 100));
        CALL("fallocate", posix_fallocate(fd, 0, 200) == 0 ? 0 : -1);
        close(fd);
        CALL("rename", rename(a, b));
        CALL("unlink", unlink(b));
        return 0;
    }
    if (!strcmp(cmd, "rand") && argc >= 3) {
        srand(7);
        int fd = open("/dev/null", O_WRONLY);
        for (long i = 0; i < atol(argv[2]); i++) {
            ssize_t w = write(fd, "x", 1);
            (void)w;
            printf("%d\n", rand());
        }
        close(fd);
        return 0;
    }
    if (!strcmp(cmd, "writes") && argc >= 4) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        long n = atol(argv[3]);
        char *pattern = malloc((size_t)n + 1);
        for (long i = 0; i < n; i++)
            pattern[i] = write(fd, "x", 1) == 1 ? '.' : 'E';
        pattern[n] = '\0';
        close(fd);
        printf("%s\n", pattern);
        free(pattern);
        return 0;
    }
    if (!strcmp(cmd, "malloc") && argc >= 3) {
        long n = atol(argv[2]);
        printf("nulls:");
        for (long i = 0; i < n; i++) {
            void *p = malloc(64);
            if (!p)
                printf(" %ld", i);
            free(p);
        }
        printf("\n");
        return 0;
    }
    if (!strcmp(cmd, "threads") && argc >= 4) {
        int t = atoi(argv[2]);
        long n = atol(argv[3]);
        pthread_t th[64];
        if (t > 64)
            t = 64;
        for (int i = 0; i < t; i++)
            pthread_create(&th[i], NULL, thread_writes, (void *)n);
        long errors = 0;
        for (int i = 0; i < t; i++) {
            void *r;
            pthread_join(th[i], &r);
            errors += (long)r;
        }
        printf("errors %ld\n", errors);
        return 0;
    }
    if (!strcmp(cmd, "forkwhile") && argc >= 3) {
        pthread_t th;
        pthread_create(&th, NULL, slow_reader, argv[2]);
        for (int i = 0; i < 20; i++) {
            pid_t pid = fork();
            if (pid == 0) {
                /* the child uses wrapped calls, including malloc and stdio */
                char *p = malloc(100);
                int fd = open(argv[2], O_RDONLY);
                char b[8];
                ssize_t r = fd >= 0 ? read(fd, b, sizeof(b)) : -1;
                (void)r;
                if (fd >= 0)
                    close(fd);
                free(p);
                _exit(0);
            }
            int st;
            waitpid(pid, &st, 0);
        }
        pthread_join(th, NULL);
        printf("done\n");
        return 0;
    }
    if (!strcmp(cmd, "time")) {
        struct timeval tv;
        struct timespec ts;
        time_t t = time(NULL);
        gettimeofday(&tv, NULL);
        clock_gettime(CLOCK_REALTIME, &ts);
        printf("time %lld\ngettimeofday %lld\nclock_gettime %lld\n", (long long)t,
               (long long)tv.tv_sec, (long long)ts.tv_sec);
        return 0;
    }
    if (!strcmp(cmd, "dns") && argc >= 3) {
        struct addrinfo *res = NULL;
        int rc = getaddrinfo(argv[2], NULL, NULL, &res);
        if (rc == 0) {
            printf("dns 0\n");
            freeaddrinfo(res);
        } else {
            printf("dns %s\n", rc == EAI_AGAIN ? "EAI_AGAIN" : rc == EAI_NONAME ? "EAI_NONAME"
                                                                                : gai_strerror(rc));
        }
        return 0;
    }
    if (!strcmp(cmd, "connect") && argc >= 4) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
        inet_pton(AF_INET, argv[2], &sa.sin_addr);
        CALL("connect", connect(s, (struct sockaddr *)&sa, sizeof(sa)));
        close(s);
        return 0;
    }
    if (!strcmp(cmd, "loop-read") && argc >= 4) {
        double secs = atof(argv[3]);
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        const char *last = "";
        for (;;) {
            int fd = open(argv[2], O_RDONLY);
            char b[64];
            ssize_t r = fd >= 0 ? read(fd, b, sizeof(b)) : -1;
            const char *state = r >= 0 ? "ok" : en(errno);
            if (strcmp(state, last)) {
                printf("read %s\n", state);
                fflush(stdout);
                last = state;
            }
            if (fd >= 0)
                close(fd);
            clock_gettime(CLOCK_MONOTONIC, &now);
            if ((double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 > secs)
                break;
            usleep(50000);
        }
        return 0;
    }
    if (!strcmp(cmd, "spawn") && argc >= 3) {
        pid_t pid = fork();
        if (pid == 0) {
            execvp(argv[2], argv + 2);
            _exit(127);
        }
        int st;
        waitpid(pid, &st, 0);
        printf("child %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        return 0;
    }
    if (!strcmp(cmd, "sleep") && argc >= 3) {
        sleep((unsigned)atoi(argv[2]));
        return 0;
    }
    if (!strcmp(cmd, "abort"))
        abort();
    fprintf(stderr, "victim: unknown command or missing arguments: %s\n", cmd);
    return 2;
}
