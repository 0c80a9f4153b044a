/* SPDX-License-Identifier: MIT */
/* ctl.c - see ctl.h. */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prng.h"

static uint64_t opset_bit(const struct fl_ctl_rule *r, int op)
{
    return r->ops[op / 64] >> (op % 64) & 1;
}

static bool rule_is_selective(const struct fl_ctl_rule *r)
{
    return r->path[0] || r->kinds != FL_KIND_ALL || r->peer_family || r->port;
}

int fl_ctl_create(const char *path, const struct fl_rule_set *set, uint64_t seed, uint64_t token,
                  unsigned flags, struct fl_ctl_handle **out, struct fl_err *err)
{
    if (set->n > FL_RULES_MAX)
        return fl_err_set(err, E2BIG, "too many rules (at most %d)", FL_RULES_MAX);
    if (strlen(path) >= sizeof((*out)->path))
        return fl_err_set(err, ENAMETOOLONG, "%s: path too long", path);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        if (e == EEXIST)
            return fl_err_set(err, e, "%s: already exists (the control block of another run? "
                                      "remove it, or run 'faultline recover')", path);
        return fl_err_set(err, e, "%s: cannot create control block: %s", path, strerror(e));
    }
    int rc = 0;
    /* from here on the file is ours: every failure path removes it */
    if (ftruncate(fd, sizeof(struct fl_ctl)) < 0) {
        rc = fl_err_set(err, errno, "%s: cannot size control block: %s", path, strerror(errno));
        goto fail;
    }
    struct fl_ctl *c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (c == MAP_FAILED) {
        rc = fl_err_set(err, errno, "%s: cannot map control block: %s", path, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    c->version = FL_CTL_VERSION;
    c->size = sizeof(*c);
    c->seed = seed;
    c->token = token;
    c->nrules = set->n;
    c->flags = flags;
    for (unsigned i = 0; i < set->n; i++) {
        const struct fl_ctl_rule *r = &set->rules[i];
        memcpy(&c->rules[i], r, sizeof(*r));
        atomic_store(&c->rules[i].seen, 0);
        atomic_store(&c->rules[i].injected, 0);
        if (rule_is_selective(r))
            c->selective |= UINT64_C(1) << i;
        for (int op = 0; op < FL_OP_COUNT; op++)
            if (opset_bit(r, op))
                c->op_rules[op] |= UINT64_C(1) << i;
    }
    uint64_t on = (UINT64_C(1) << set->n) - 1; /* n <= 63 */
    if (flags & FL_CTL_OBSERVE) {
        /* every call is a candidate of the observer's bit: the preload records it */
        for (int op = 0; op < FL_OP_COUNT; op++)
            c->op_rules[op] |= FL_CTL_OBSERVE_BIT;
        on |= FL_CTL_OBSERVE_BIT;
    }
    atomic_store(&c->enabled, on);
    /* magic last: a reader that sees it sees a complete block */
    atomic_thread_fence(memory_order_release);
    c->magic = FL_CTL_MAGIC;
    if (msync(c, sizeof(*c), MS_SYNC) < 0) {
        /* tmpfs needs no sync; a failure here is not worth failing the run */
    }
    struct fl_ctl_handle *h = calloc(1, sizeof(*h));
    if (!h) {
        munmap(c, sizeof(*c));
        unlink(path);
        return fl_err_set(err, ENOMEM, "out of memory");
    }
    h->ctl = c;
    snprintf(h->path, sizeof(h->path), "%s", path);
    *out = h;
    return 0;
fail:
    close(fd);
    unlink(path);
    return rc;
}

int fl_ctl_open(const char *path, struct fl_ctl_handle **out, struct fl_err *err)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return fl_err_set(err, errno, "%s: cannot open control block: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || (size_t)st.st_size != sizeof(struct fl_ctl)) {
        close(fd);
        return fl_err_set(err, EINVAL, "%s: not a faultline control block (wrong size)", path);
    }
    struct fl_ctl *c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (c == MAP_FAILED)
        return fl_err_set(err, e, "%s: cannot map control block: %s", path, strerror(e));
    if (c->magic != FL_CTL_MAGIC || c->version != FL_CTL_VERSION || c->size != sizeof(*c) ||
        c->nrules > FL_RULES_MAX) {
        munmap(c, sizeof(*c));
        return fl_err_set(err, EINVAL, "%s: not a faultline control block of this version",
                          path);
    }
    struct fl_ctl_handle *h = calloc(1, sizeof(*h));
    if (!h) {
        munmap(c, sizeof(*c));
        return fl_err_set(err, ENOMEM, "out of memory");
    }
    h->ctl = c;
    snprintf(h->path, sizeof(h->path), "%s", path);
    *out = h;
    return 0;
}

void fl_ctl_close(struct fl_ctl_handle *h)
{
    if (!h)
        return;
    munmap(h->ctl, sizeof(*h->ctl));
    free(h);
}

int fl_ctl_count(const struct fl_ctl_handle *h) { return (int)h->ctl->nrules; }

int fl_ctl_find(const struct fl_ctl_handle *h, const char *id)
{
    for (unsigned i = 0; i < h->ctl->nrules; i++)
        if (strcmp(h->ctl->rules[i].id, id) == 0)
            return (int)i;
    /* a rule's number works even when it has an id= (ids are never all digits) */
    char *end;
    long n = strtol(id, &end, 10);
    if (*id && !*end && n >= 1 && n <= (long)h->ctl->nrules)
        return (int)(n - 1);
    return -ENOENT;
}

int fl_ctl_set_enabled(struct fl_ctl_handle *h, int index, bool on)
{
    struct fl_ctl *c = h->ctl;
    uint64_t bits;
    if (index < 0)
        bits = (UINT64_C(1) << c->nrules) - 1; /* the rules only, never the observer's bit */
    else if ((unsigned)index < c->nrules)
        bits = UINT64_C(1) << index;
    else
        return -ENOENT;
    if (on)
        atomic_fetch_or(&c->enabled, bits);
    else
        atomic_fetch_and(&c->enabled, ~bits);
    atomic_fetch_add(&c->generation, 1);
    return 0;
}

void fl_ctl_stop_observing(struct fl_ctl_handle *h)
{
    atomic_fetch_and(&h->ctl->enabled, ~FL_CTL_OBSERVE_BIT);
    atomic_fetch_add(&h->ctl->generation, 1);
}

int fl_ctl_stats(const struct fl_ctl_handle *h, int index, struct fl_rule_stats *out)
{
    const struct fl_ctl *c = h->ctl;
    if (index < 0 || (unsigned)index >= c->nrules)
        return -ENOENT;
    struct fl_ctl_rule *r = (struct fl_ctl_rule *)&c->rules[index];
    out->id = r->id;
    out->text = r->text;
    out->enabled = atomic_load((_Atomic uint64_t *)&c->enabled) >> index & 1;
    out->seen = atomic_load(&r->seen);
    out->injected = atomic_load(&r->injected);
    return 0;
}

const char *fl_ctl_runtime_dir(void)
{
    const char *dir = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    if (!dir || !*dir || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK) < 0)
        dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    return dir;
}

void fl_ctl_default_path(char *buf, size_t len)
{
    snprintf(buf, len, "%s/faultline-ctl-%d-%016llx", fl_ctl_runtime_dir(), (int)getpid(),
             (unsigned long long)fl_seed_from_entropy());
}
