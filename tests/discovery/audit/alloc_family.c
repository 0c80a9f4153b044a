/* SPDX-License-Identifier: MIT */
/*
 * alloc_family.c - asks each of the malloc family for a size of its own, so that the audit's
 * byte count says which calls it saw (tests/integration/test_audit.py compiles it).
 *
 *   alloc_family family [fail]   the nine calls, call i for 2^i MiB (511 MiB in all, none of it
 *                                touched); with "fail", four requests that fail as well
 *   alloc_family threads N       two threads ask for N x 1 MiB each: one ends before the
 *                                program does, the other is still running when it exits
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)

static volatile size_t huge = SIZE_MAX / 2; /* volatile: no compile-time size warning */
static void *volatile keep; /* a block stored here is not optimized away with its free */

static int family(int fail)
{
    void *p[9];
    p[0] = malloc(1 * MIB);
    p[1] = calloc(2, MIB);
    p[2] = realloc(NULL, 4 * MIB);
    p[3] = reallocarray(NULL, 8, MIB);
    if (posix_memalign(&p[4], 64, 16 * MIB) != 0)
        p[4] = NULL;
    p[5] = aligned_alloc(4096, 32 * MIB);
    p[6] = memalign(4096, 64 * MIB);
    p[7] = valloc(128 * MIB);
    p[8] = pvalloc(256 * MIB);
    for (int i = 0; i < 9; i++) {
        if (!p[i]) {
            fprintf(stderr, "call %d failed\n", i);
            return 1;
        }
        free(p[i]);
    }
    if (fail) {
        void *q;
        int got = 0;
        got += malloc(huge) != NULL;
        got += calloc(huge, 4) != NULL;
        got += reallocarray(NULL, huge, 4) != NULL;
        got += posix_memalign(&q, 64, huge) == 0;
        if (got) {
            fprintf(stderr, "a huge request succeeded\n");
            return 1;
        }
    }
    return 0;
}

static size_t per_thread;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int done;

static void *allocate(void *stay)
{
    for (size_t i = 0; i < per_thread; i++)
        keep = malloc(MIB), free(keep);
    if (stay) {
        pthread_mutex_lock(&lock);
        done = 1;
        pthread_cond_signal(&cond);
        pthread_mutex_unlock(&lock);
        pause(); /* still running when the program exits */
    }
    return NULL;
}

static int threads(size_t n)
{
    pthread_t ended, running;
    per_thread = n;
    if (pthread_create(&ended, NULL, allocate, NULL) != 0 || pthread_join(ended, NULL) != 0)
        return 1;
    if (pthread_create(&running, NULL, allocate, &per_thread) != 0)
        return 1;
    pthread_mutex_lock(&lock);
    while (!done)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "family"))
        return family(argc >= 3 && !strcmp(argv[2], "fail"));
    if (argc >= 3 && !strcmp(argv[1], "threads"))
        return threads((size_t)strtoul(argv[2], NULL, 10));
    fprintf(stderr, "usage: alloc_family family [fail] | threads N\n");
    return 2;
}
