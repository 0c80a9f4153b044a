/* SPDX-License-Identifier: MIT */
/*
 * rule.c - the rule language: "WHERE[:KEY[=VALUE]]...", parsed into struct fl_ctl_rule.
 *
 * Order of work: split into tokens (':' separates, '\' quotes, a peer address keeps its
 * ":port" and IPv6 brackets), resolve WHERE to a set of calls and the fd kinds its families
 * imply, read each KEY, then narrow the call set to the calls every selector and effect can
 * apply to. A rule whose call set ends empty is refused: it could never fire, and silently
 * never firing is the failure this tool exists to avoid.
 */
#include "rule.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "units.h"

#define TOKENS_MAX 32
#define TOKEN_MAX 512

struct token {
    int col;             /* 1-based column of the token's first character */
    char text[TOKEN_MAX];
};

/* ---- names ------------------------------------------------------------------------------ */

int fl_errno_from_name(const char *name)
{
    if (!name || !*name)
        return -1;
    if (name[0] >= '0' && name[0] <= '9') {
        char *end;
        long v = strtol(name, &end, 10);
        return (*end || v <= 0 || v > 4095) ? -1 : (int)v;
    }
    for (int e = 1; e < 4096; e++) {
        const char *n = strerrorname_np(e);
        if (n && strcmp(n, name) == 0)
            return e;
    }
    return -1;
}

const char *fl_errno_name(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

static const struct {
    const char *name;
    int value;
} eai_names[] = {
    {"EAI_AGAIN", EAI_AGAIN},   {"EAI_BADFLAGS", EAI_BADFLAGS}, {"EAI_FAIL", EAI_FAIL},
    {"EAI_FAMILY", EAI_FAMILY}, {"EAI_MEMORY", EAI_MEMORY},     {"EAI_NONAME", EAI_NONAME},
    {"EAI_SERVICE", EAI_SERVICE}, {"EAI_SOCKTYPE", EAI_SOCKTYPE}, {"EAI_SYSTEM", EAI_SYSTEM},
    {"EAI_OVERFLOW", EAI_OVERFLOW}, {"EAI_NODATA", EAI_NODATA},
    {"EAI_ADDRFAMILY", EAI_ADDRFAMILY},
};

int fl_eai_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof(eai_names) / sizeof(eai_names[0]); i++)
        if (strcmp(eai_names[i].name, name) == 0)
            return eai_names[i].value;
    return 0;
}

const char *fl_eai_name(int eai)
{
    for (size_t i = 0; i < sizeof(eai_names) / sizeof(eai_names[0]); i++)
        if (eai_names[i].value == eai)
            return eai_names[i].name;
    return "EAI_?";
}

/* Levenshtein distance, capped, for "did you mean" hints. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    int prev[41], cur[41];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (lb + 1));
    }
    return prev[lb];
}

static const char *const rule_keys[] = {
    "path", "kind", "peer", "port", "host", "site", "prob", "nth", "after", "count", "id",
    "errno", "delay", "short", "torn", "drop", "corrupt", "hang", "eai", "offset",
    "eof", "silent", "signal",
};

/* Closest candidate within distance 2, or NULL. */
static const char *suggest_key(const char *word)
{
    const char *best = NULL;
    int bestd = 3;
    for (size_t i = 0; i < sizeof(rule_keys) / sizeof(rule_keys[0]); i++) {
        int d = edit_distance(word, rule_keys[i]);
        /* two edits turn any three letters into another word: not a hint */
        if (d < bestd && d < (int)strlen(word) - 1) {
            bestd = d;
            best = rule_keys[i];
        }
    }
    return best;
}

static const char *suggest_where(const char *word)
{
    static const char *const extra[] = {"io", "net"};
    const char *best = NULL;
    int bestd = 3;
    for (int i = 0; i < FL_OP_COUNT; i++) {
        int d = edit_distance(word, fl_op_table[i].name);
        if (d < bestd) {
            bestd = d;
            best = fl_op_table[i].name;
        }
    }
    for (int f = 1; f < FL_FAM_COUNT; f++) {
        int d = edit_distance(word, fl_family_names[f]);
        if (d < bestd) {
            bestd = d;
            best = fl_family_names[f];
        }
    }
    for (size_t i = 0; i < 2; i++) {
        int d = edit_distance(word, extra[i]);
        if (d < bestd) {
            bestd = d;
            best = extra[i];
        }
    }
    return best;
}

/* ---- op sets ------------------------------------------------------------------------------ */

struct opset {
    uint64_t w[FL_OPS_WORDS];
};

static void opset_add(struct opset *s, int op) { s->w[op / 64] |= UINT64_C(1) << (op % 64); }
static bool opset_has(const struct opset *s, int op) { return s->w[op / 64] >> (op % 64) & 1; }

static bool opset_empty(const struct opset *s)
{
    for (int i = 0; i < FL_OPS_WORDS; i++)
        if (s->w[i])
            return false;
    return true;
}

static void opset_and(struct opset *a, const struct opset *b)
{
    for (int i = 0; i < FL_OPS_WORDS; i++)
        a->w[i] &= b->w[i];
}

/* The calls a predicate accepts. */
static struct opset opset_where(bool (*pred)(const struct fl_op_info *))
{
    struct opset s = {{0}};
    for (int i = 0; i < FL_OP_COUNT; i++)
        if (pred(&fl_op_table[i]))
            opset_add(&s, i);
    return s;
}

static bool fl_op_is_copy(const struct fl_op_info *o)
{
    return !strncmp(o->name, "copy_file_range", 15) || !strncmp(o->name, "sendfile", 8) ||
           !strncmp(o->name, "splice", 6);
}

static bool cls_fd_based(enum fl_class c)
{
    return c == FL_CLS_READ || c == FL_CLS_WRITE || c == FL_CLS_SYNC || c == FL_CLS_METAFD ||
           c == FL_CLS_ACCEPT || c == FL_CLS_LOCK;
}

static bool pred_path(const struct fl_op_info *o)
{
    return !(o->flags & FL_OPF_NOSUBJECT) &&
           (cls_fd_based(o->cls) || o->cls == FL_CLS_OPEN || o->cls == FL_CLS_METAPATH) &&
           o->cls != FL_CLS_ACCEPT;
}
static bool pred_kind(const struct fl_op_info *o)
{
    return !(o->flags & FL_OPF_NOSUBJECT) &&
           (cls_fd_based(o->cls) || o->cls == FL_CLS_OPEN || o->cls == FL_CLS_METAPATH ||
            o->cls == FL_CLS_CONNECT);
}
static bool pred_peer(const struct fl_op_info *o)
{
    return o->cls == FL_CLS_CONNECT || o->cls == FL_CLS_ACCEPT || o->cls == FL_CLS_READ ||
           o->cls == FL_CLS_WRITE;
}
static bool pred_host(const struct fl_op_info *o) { return o->cls == FL_CLS_DNS; }
static bool pred_errno(const struct fl_op_info *o)
{
    return o->cls != FL_CLS_TIME && o->cls != FL_CLS_DNS;
}
static bool pred_any(const struct fl_op_info *o) { return o != NULL; }
static bool pred_hang(const struct fl_op_info *o)
{
    return o->cls != FL_CLS_MEM && o->cls != FL_CLS_TIME;
}
static bool pred_short(const struct fl_op_info *o)
{
    return (o->flags & FL_OPF_SHORT) && (o->cls == FL_CLS_READ || o->cls == FL_CLS_WRITE);
}
static bool pred_torn(const struct fl_op_info *o)
{
    return (o->flags & FL_OPF_SHORT) && o->cls == FL_CLS_WRITE;
}
static bool pred_drop(const struct fl_op_info *o)
{
    /* not copy_file_range/sendfile/splice: a "lost" copy that never advances its offsets nor
     * reaches end of file makes the caller loop forever, which no device does */
    return (o->cls == FL_CLS_WRITE && !fl_op_is_copy(o)) || o->cls == FL_CLS_SYNC;
}
static bool pred_corrupt(const struct fl_op_info *o)
{
    return o->cls == FL_CLS_READ && !(o->flags & FL_OPF_NOBUF);
}
static bool pred_eof(const struct fl_op_info *o) { return o->cls == FL_CLS_READ; }
static bool pred_silent(const struct fl_op_info *o)
{
    /* the calls a peer's silence is seen through: receives on a socket fd (not stdio, whose
     * buffer would hold what already arrived), and connect */
    return o->cls == FL_CLS_CONNECT ||
           (o->cls == FL_CLS_READ && (o->fam == FL_FAM_NET_RECV || o->fam2 == FL_FAM_NET_RECV) &&
            !(o->flags & FL_OPF_STDIO));
}
static bool pred_signal_after(const struct fl_op_info *o)
{
    /* the allocator and the clock return through paths that hold no post-call hook */
    return o->cls != FL_CLS_MEM && o->cls != FL_CLS_TIME;
}
static bool pred_eai(const struct fl_op_info *o) { return o->cls == FL_CLS_DNS; }
static bool pred_offset(const struct fl_op_info *o) { return o->cls == FL_CLS_TIME; }

/* ---- tokens ------------------------------------------------------------------------------- */

static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int tokenize(const char *text, struct token *tok, int *ntok, int *col, struct fl_err *err)
{
    size_t pos = 0;
    int n = 0;
    for (;;) {
        if (n == TOKENS_MAX) {
            *col = (int)pos + 1;
            return fl_err_set(err, EINVAL, "too many parts (at most %d)", TOKENS_MAX);
        }
        struct token *t = &tok[n];
        t->col = (int)pos + 1;
        size_t len = 0;
        bool bracket = strncmp(text + pos, "peer=[", 6) == 0;
        while (text[pos] && (bracket || text[pos] != ':')) {
            char c = text[pos];
            if (c == '\\' && text[pos + 1])
                c = text[++pos];
            else if (bracket && c == ']')
                bracket = false;
            if (len + 1 >= TOKEN_MAX) {
                *col = t->col;
                return fl_err_set(err, EINVAL, "part is longer than %d characters", TOKEN_MAX - 1);
            }
            t->text[len++] = c;
            pos++;
        }
        t->text[len] = '\0';
        /* peer=1.2.3.4:6379 keeps its port */
        bool v4 = !strchr(t->text + 5, ']') && !strchr(t->text + 5, ':');
        bool v6 = len > 5 && t->text[5] == '[' && t->text[len - 1] == ']';
        if (strncmp(t->text, "peer=", 5) == 0 && text[pos] == ':' && (v4 || v6)) {
            const char *p = text + pos + 1;
            size_t d = strcspn(p, ":");
            if (all_digits(p, d) && len + 1 + d < TOKEN_MAX) {
                t->text[len++] = ':';
                memcpy(t->text + len, p, d);
                len += d;
                t->text[len] = '\0';
                pos += 1 + d;
            }
        }
        n++;
        if (text[pos] != ':')
            break;
        pos++;
    }
    *ntok = n;
    return 0;
}

/* ---- WHERE -------------------------------------------------------------------------------- */

static unsigned family_kinds(enum fl_family f)
{
    switch (f) {
    case FL_FAM_NET_CONNECT:
    case FL_FAM_NET_ACCEPT:
    case FL_FAM_NET_SEND:
    case FL_FAM_NET_RECV:
        return FL_KIND_SOCKET;
    case FL_FAM_IO_OPEN:
    case FL_FAM_IO_READ:
    case FL_FAM_IO_WRITE:
    case FL_FAM_IO_SYNC:
    case FL_FAM_IO_META:
    case FL_FAM_IO_LOCK:
        return FL_KIND_FILE | FL_KIND_PIPE | FL_KIND_OTHER;
    default:
        return FL_KIND_ALL;
    }
}

static void add_family(struct opset *ops, enum fl_family f)
{
    for (int i = 0; i < FL_OP_COUNT; i++)
        if (fl_op_table[i].fam == f || fl_op_table[i].fam2 == f)
            opset_add(ops, i);
}

static int parse_where(const struct token *t, struct opset *ops, unsigned *kinds, int *col,
                       struct fl_err *err)
{
    const char *p = t->text;
    *kinds = 0;
    if (!*p) {
        *col = t->col;
        return fl_err_set(err, EINVAL, "expected a call or family before the first ':' "
                                       "(like write, io.sync or net.connect)");
    }
    for (;;) {
        size_t n = strcspn(p, ",");
        char name[64];
        int c = t->col + (int)(p - t->text);
        if (n == 0 || n >= sizeof(name)) {
            *col = c;
            return fl_err_set(err, EINVAL, "expected a call or family name after ','");
        }
        memcpy(name, p, n);
        name[n] = '\0';
        bool found = false;
        if (strcmp(name, "io") == 0 || strcmp(name, "net") == 0) {
            const char *prefix = name[0] == 'i' ? "io." : "net.";
            for (int f = 1; f < FL_FAM_COUNT; f++)
                if (strncmp(fl_family_names[f], prefix, strlen(prefix)) == 0) {
                    add_family(ops, (enum fl_family)f);
                    *kinds |= family_kinds((enum fl_family)f);
                }
            found = true;
        }
        for (int f = 1; !found && f < FL_FAM_COUNT; f++)
            if (strcmp(fl_family_names[f], name) == 0) {
                add_family(ops, (enum fl_family)f);
                *kinds |= family_kinds((enum fl_family)f);
                found = true;
            }
        for (int i = 0; !found && i < FL_OP_COUNT; i++)
            if (strcmp(fl_op_table[i].name, name) == 0) {
                char base[64], other[64];
                fl_op_base_name(name, base, sizeof(base));
                for (int j = 0; j < FL_OP_COUNT; j++) {
                    fl_op_base_name(fl_op_table[j].name, other, sizeof(other));
                    if (strcmp(base, other) == 0)
                        opset_add(ops, j);
                }
                *kinds |= FL_KIND_ALL;
                found = true;
            }
        if (!found) {
            *col = c;
            const char *s = suggest_where(name);
            if (s)
                return fl_err_set(err, EINVAL, "unknown call or family '%s' (did you mean '%s'? "
                                               "see faultline help rules)", name, s);
            return fl_err_set(err, EINVAL, "unknown call or family '%s' (expected a call like "
                                           "write or a family like io.write; see faultline "
                                           "help rules)", name);
        }
        p += n;
        if (*p != ',')
            break;
        p++;
    }
    return 0;
}

/* ---- values ------------------------------------------------------------------------------- */

static int parse_kinds(const char *v, unsigned *out, struct fl_err *err)
{
    unsigned k = 0;
    const char *p = v;
    for (;;) {
        size_t n = strcspn(p, ",|+");
        if (n == 4 && !strncmp(p, "file", 4))
            k |= FL_KIND_FILE;
        else if (n == 4 && !strncmp(p, "pipe", 4))
            k |= FL_KIND_PIPE;
        else if (n == 6 && !strncmp(p, "socket", 6))
            k |= FL_KIND_SOCKET;
        else if (n == 5 && !strncmp(p, "other", 5))
            k |= FL_KIND_OTHER;
        else if (n == 3 && !strncmp(p, "any", 3))
            k |= FL_KIND_ALL;
        else
            return fl_err_set(err, EINVAL, "unknown fd kind '%.*s' (expected file, pipe, socket, "
                                           "other or any, joined by ',')", (int)n, p);
        p += n;
        if (!*p)
            break;
        p++;
    }
    *out = k;
    return 0;
}

static int parse_port(const char *v, uint16_t *port, struct fl_err *err)
{
    uint64_t x;
    if (fl_parse_u64(v, &x, NULL) < 0 || x == 0 || x > 65535)
        return fl_err_set(err, EINVAL, "'%s' is not a port (expected 1..65535)", v);
    *port = (uint16_t)x;
    return 0;
}

static int parse_peer(const char *v, struct fl_ctl_rule *r, struct fl_err *err)
{
    char host[128];
    const char *port = NULL;
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (!close || (size_t)(close - v - 1) >= sizeof(host))
            return fl_err_set(err, EINVAL, "'%s': expected an IPv6 address in brackets like "
                                           "[::1]:6379", v);
        memcpy(host, v + 1, (size_t)(close - v - 1));
        host[close - v - 1] = '\0';
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return fl_err_set(err, EINVAL, "'%s': expected ':PORT' after ']'", v);
    } else {
        size_t n = strcspn(v, ":");
        if (n >= sizeof(host))
            return fl_err_set(err, EINVAL, "'%s' is not an address", v);
        memcpy(host, v, n);
        host[n] = '\0';
        if (v[n] == ':')
            port = v + n + 1;
    }
    if (inet_pton(AF_INET, host, r->peer_addr) == 1)
        r->peer_family = AF_INET;
    else if (inet_pton(AF_INET6, host, r->peer_addr) == 1)
        r->peer_family = AF_INET6;
    else
        return fl_err_set(err, EINVAL, "'%s' is not an IP address (expected like 127.0.0.1, "
                                       "127.0.0.1:6379 or [::1]:6379; names are not resolved)",
                          host);
    if (port && parse_port(port, &r->peer_port, err) < 0)
        return -EINVAL;
    return 0;
}

/* A call site's hash as the fault surface prints it: 1 to 8 hex digits, "0x" allowed. */
static int parse_site(const char *v, uint32_t *site, struct fl_err *err)
{
    const char *p = (v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) ? v + 2 : v;
    size_t n = strspn(p, "0123456789abcdefABCDEF");
    if (n == 0 || n > 8 || p[n])
        return fl_err_set(err, EINVAL, "site: '%s' is not a call site (expected up to 8 hex "
                                       "digits, as 'inject --surface' prints them)", v);
    *site = (uint32_t)strtoul(p, NULL, 16);
    return 0;
}

/* "SIGKILL", "KILL" or "9", then optionally "@before" (the default) or "@after". */
static int parse_signal(const char *v, struct fl_ctl_rule *r, struct fl_err *err)
{
    char name[32];
    const char *at = strchr(v, '@');
    size_t n = at ? (size_t)(at - v) : strlen(v);
    if (n == 0 || n >= sizeof(name))
        return fl_err_set(err, EINVAL, "signal: '%s' is not a signal (expected a name like "
                                       "SIGKILL or SIGTERM, or a number)", v);
    memcpy(name, v, n);
    name[n] = '\0';
    const char *bare = strncmp(name, "SIG", 3) == 0 ? name + 3 : name;
    int sig = 0;
    if (all_digits(bare, strlen(bare))) {
        sig = atoi(bare);
    } else {
        for (int i = 1; i < NSIG && !sig; i++) {
            const char *abbrev = sigabbrev_np(i);
            if (abbrev && strcmp(abbrev, bare) == 0)
                sig = i;
        }
    }
    if (sig <= 0 || sig >= SIGRTMIN || sig == SIGSTOP)
        return fl_err_set(err, EINVAL, "signal: '%s' is not a signal faultline can send (expected "
                                       "a name like SIGKILL, SIGTERM, SIGINT, SIGSEGV, or a "
                                       "number; not SIGSTOP)", name);
    r->signo = sig;
    r->signal_after = false;
    if (at) {
        if (strcmp(at, "@after") == 0)
            r->signal_after = true;
        else if (strcmp(at, "@before") != 0)
            return fl_err_set(err, EINVAL, "signal: '%s': expected '@before' or '@after' after "
                                           "the signal's name", at);
    }
    return 0;
}

static void copy_text(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- the rule ----------------------------------------------------------------------------- */

struct narrowing {
    const char *what;                          /* shown in errors */
    bool (*pred)(const struct fl_op_info *);
    const char *applies_to;                    /* shown in errors */
    int col;
};

int fl_rule_parse(const char *text, struct fl_ctl_rule *r, int *col, struct fl_err *err)
{
    struct token *tok = calloc(TOKENS_MAX, sizeof(*tok));
    if (!tok)
        return fl_err_set(err, ENOMEM, "out of memory");
    int ntok = 0, rc;
    *col = 1;
    memset(r, 0, sizeof(*r));
    r->prob = UINT64_MAX;
    copy_text(r->text, sizeof(r->text), text);

    rc = tokenize(text, tok, &ntok, col, err);
    if (rc < 0)
        goto out;

    struct opset ops = {{0}};
    unsigned implied_kinds;
    rc = parse_where(&tok[0], &ops, &implied_kinds, col, err);
    if (rc < 0)
        goto out;

    struct narrowing narrow[sizeof(rule_keys) / sizeof(rule_keys[0])];
    unsigned keys_seen = 0; /* bit k: rule_keys[k] given; each key at most once */
    int nnarrow = 0;
    bool have_kind = false, have_nth = false, have_after = false, have_count = false;
    int nth_col = 0, after_col = 0;
    int effect_col[16] = {0};
    uint64_t nth = 0;

    for (int i = 1; i < ntok; i++) {
        struct token *t = &tok[i];
        char *key = t->text, *val = strchr(t->text, '=');
        *col = t->col;
        if (val)
            *val++ = '\0';
        int vcol = val ? t->col + (int)(val - t->text) : t->col;
        bool flag = strcmp(key, "drop") == 0 || strcmp(key, "hang") == 0 ||
                    strcmp(key, "eof") == 0 || strcmp(key, "silent") == 0;
        if (!*key) {
            rc = fl_err_set(err, EINVAL, "empty part (two ':' in a row?)");
            goto out;
        }
        if (flag && val) {
            rc = fl_err_set(err, EINVAL, "'%s' takes no value", key);
            goto out;
        }
        bool known = false;
        for (size_t k = 0; k < sizeof(rule_keys) / sizeof(rule_keys[0]); k++) {
            if (strcmp(key, rule_keys[k]) != 0)
                continue;
            known = true;
            if (keys_seen & (1u << k)) {
                rc = fl_err_set(err, EINVAL, "'%s' given twice", key);
                goto out;
            }
            keys_seen |= 1u << k;
        }
        if (!known) {
            const char *s = suggest_key(key);
            rc = s ? fl_err_set(err, EINVAL, "unknown key '%s' (did you mean '%s'?)", key, s)
                   : fl_err_set(err, EINVAL, "unknown key '%s' (expected a selector: path, kind, "
                                             "peer, port, host, site, prob, nth, after, count, "
                                             "id; or "
                                             "an effect: errno, delay, short, torn, drop, "
                                             "corrupt, hang, eai, offset, eof, silent, "
                                             "signal)", key);
            goto out;
        }
        if (!flag && (!val || !*val)) {
            if (!strcmp(key, "peer"))
                rc = fl_err_set(err, EINVAL, "'peer' needs an address; IPv6 addresses go in "
                                             "brackets: peer=[::1] or peer=[::1]:6379");
            else
                rc = fl_err_set(err, EINVAL, "'%s' needs a value ('%s=...')", key, key);
            goto out;
        }
        *col = vcol;
        struct fl_err verr = {{0}};
        unsigned eff = 0;
        if (!strcmp(key, "path")) {
            if (strlen(val) >= FL_GLOB_MAX) {
                rc = fl_err_set(err, EINVAL, "path glob longer than %d characters", FL_GLOB_MAX - 1);
                goto out;
            }
            copy_text(r->path, sizeof(r->path), val);
            r->path_has_slash = strchr(val, '/') != NULL;
            narrow[nnarrow++] = (struct narrowing){"path", pred_path, "file calls", t->col};
        } else if (!strcmp(key, "kind")) {
            unsigned k = 0;
            if ((rc = parse_kinds(val, &k, err)) < 0)
                goto out;
            r->kinds = k;
            have_kind = true;
            narrow[nnarrow++] = (struct narrowing){"kind", pred_kind, "calls on an fd", t->col};
        } else if (!strcmp(key, "peer")) {
            if ((rc = parse_peer(val, r, err)) < 0)
                goto out;
            narrow[nnarrow++] = (struct narrowing){"peer", pred_peer, "socket calls", t->col};
        } else if (!strcmp(key, "port")) {
            if ((rc = parse_port(val, &r->port, err)) < 0)
                goto out;
            narrow[nnarrow++] = (struct narrowing){"port", pred_peer, "socket calls", t->col};
        } else if (!strcmp(key, "host")) {
            if (strlen(val) >= FL_HOST_MAX) {
                rc = fl_err_set(err, EINVAL, "host glob longer than %d characters",
                                FL_HOST_MAX - 1);
                goto out;
            }
            copy_text(r->host, sizeof(r->host), val);
            narrow[nnarrow++] = (struct narrowing){"host", pred_host, "dns", t->col};
        } else if (!strcmp(key, "site")) {
            if ((rc = parse_site(val, &r->site, err)) < 0)
                goto out;
            r->site_set = 1;
        } else if (!strcmp(key, "prob")) {
            if ((rc = fl_parse_probability(val, &r->prob, NULL, err)) < 0)
                goto out;
        } else if (!strcmp(key, "nth")) {
            if (fl_parse_u64(val, &nth, &verr) < 0 || nth == 0) {
                rc = fl_err_set(err, EINVAL, "nth: '%s' is not a call number (expected 1 or "
                                             "more)", val);
                goto out;
            }
            have_nth = true;
            nth_col = t->col;
        } else if (!strcmp(key, "after")) {
            if ((rc = fl_parse_u64(val, &r->after, err)) < 0)
                goto out;
            have_after = true;
            after_col = t->col;
        } else if (!strcmp(key, "count")) {
            if (fl_parse_u64(val, &r->count, &verr) < 0 || r->count == 0) {
                rc = fl_err_set(err, EINVAL, "count: '%s' is not a number of faults (expected 1 "
                                             "or more)", val);
                goto out;
            }
            have_count = true;
        } else if (!strcmp(key, "id")) {
            size_t n = strlen(val);
            bool ok = n < FL_RULE_ID_MAX && !all_digits(val, n);
            for (size_t k = 0; ok && k < n; k++)
                ok = (val[k] >= 'a' && val[k] <= 'z') || (val[k] >= 'A' && val[k] <= 'Z') ||
                     (val[k] >= '0' && val[k] <= '9') || val[k] == '-' || val[k] == '_' ||
                     val[k] == '.';
            if (!ok) {
                rc = fl_err_set(err, EINVAL, "id '%s': expected up to %d letters, digits, '-', "
                                             "'_' or '.', not only digits", val,
                                FL_RULE_ID_MAX - 1);
                goto out;
            }
            copy_text(r->id, sizeof(r->id), val);
        } else if (!strcmp(key, "errno")) {
            int e = fl_errno_from_name(val);
            if (e < 0) {
                rc = fl_err_set(err, EINVAL, "unknown errno '%s' (expected a name like EIO or "
                                             "ENOSPC, or a number)", val);
                goto out;
            }
            r->err = e;
            eff = FL_EFF_ERRNO;
        } else if (!strcmp(key, "delay")) {
            if ((rc = fl_parse_duration(val, false, &r->delay_ns, err)) < 0)
                goto out;
            if (r->delay_ns > 24 * 3600 * FL_NS_PER_SEC) {
                rc = fl_err_set(err, ERANGE, "delay '%s' is longer than 24h (use hang to block "
                                             "until switched off)", val);
                goto out;
            }
            eff = FL_EFF_DELAY;
        } else if (!strcmp(key, "short")) {
            bool share;
            if ((rc = fl_parse_size(val, true, &r->short_value, &share, err)) < 0)
                goto out;
            r->short_is_share = share;
            if (r->short_value == 0) {
                rc = fl_err_set(err, EINVAL, "short: '%s' passes nothing on (a read would look "
                                             "like end of file, a write would never progress); "
                                             "expected at least 1 byte or a share above 0%%",
                                val);
                goto out;
            }
            eff = FL_EFF_SHORT;
        } else if (!strcmp(key, "torn")) {
            if ((rc = fl_parse_size(val, false, &r->torn_bytes, NULL, err)) < 0)
                goto out;
            eff = FL_EFF_TORN;
        } else if (!strcmp(key, "drop")) {
            eff = FL_EFF_DROP;
        } else if (!strcmp(key, "hang")) {
            eff = FL_EFF_HANG;
        } else if (!strcmp(key, "corrupt")) {
            uint64_t bits;
            if (fl_parse_u64(val, &bits, NULL) < 0 || bits == 0 || bits > 65536) {
                rc = fl_err_set(err, EINVAL, "corrupt: '%s' is not a number of bits to flip "
                                             "(expected 1..65536)", val);
                goto out;
            }
            r->corrupt_bits = (uint32_t)bits;
            eff = FL_EFF_CORRUPT;
        } else if (!strcmp(key, "eai")) {
            char name[64];
            snprintf(name, sizeof(name), "%s%s", strncmp(val, "EAI_", 4) ? "EAI_" : "", val);
            r->eai = fl_eai_from_name(name);
            if (!r->eai) {
                rc = fl_err_set(err, EINVAL, "unknown eai '%s' (expected EAI_AGAIN, EAI_NONAME, "
                                             "EAI_FAIL, EAI_MEMORY, EAI_SYSTEM, ...)", val);
                goto out;
            }
            eff = FL_EFF_EAI;
        } else if (!strcmp(key, "eof")) {
            eff = FL_EFF_EOF;
        } else if (!strcmp(key, "silent")) {
            eff = FL_EFF_SILENT;
        } else if (!strcmp(key, "signal")) {
            if ((rc = parse_signal(val, r, err)) < 0)
                goto out;
            eff = FL_EFF_SIGNAL;
        } else if (!strcmp(key, "offset")) {
            if ((rc = fl_parse_duration(val, true, &r->offset_ns, err)) < 0)
                goto out;
            eff = FL_EFF_OFFSET;
        }
        if (eff) {
            if (r->effects & eff) {
                *col = t->col;
                rc = fl_err_set(err, EINVAL, "'%s' given twice", key);
                goto out;
            }
            r->effects |= eff;
            effect_col[__builtin_ctz(eff)] = t->col;
        }
    }

    /* Combinations. */
    *col = tok[0].col;
    if (!(r->effects & ~0u)) {
        *col = (int)strlen(text) + 1;
        rc = fl_err_set(err, EINVAL, "no effect: add one of errno=, delay=, short=, torn=, drop, "
                                     "corrupt=, hang, eai=, offset=, eof, silent, signal=");
        goto out;
    }
    if ((r->effects & FL_EFF_WAITS) == FL_EFF_WAITS) {
        *col = effect_col[__builtin_ctz(FL_EFF_HANG)];
        rc = fl_err_set(err, EINVAL, "'hang' and 'delay' together: choose one");
        goto out;
    }
    unsigned terminal = r->effects & ~FL_EFF_NONTERMINAL;
    unsigned others = terminal & ~FL_EFF_ERRNO;
    if (__builtin_popcount(others) > 1 ||
        (terminal & FL_EFF_ERRNO && others && !(others & (FL_EFF_TORN | FL_EFF_SHORT)))) {
        unsigned second = others & (others - 1) ? others & (others - 1) : others;
        *col = effect_col[__builtin_ctz(second)];
        rc = fl_err_set(err, EINVAL, "impossible combination of effects: a call can fail in one "
                                     "way (errno may only go with torn or short, as the error "
                                     "they report)");
        goto out;
    }
    if (have_nth && have_after) {
        *col = nth_col > after_col ? nth_col : after_col;
        rc = fl_err_set(err, EINVAL, "'nth' and 'after' together: nth=N means after=N-1 count=1");
        goto out;
    }
    if (have_nth) {
        r->after = nth - 1;
        if (!have_count)
            r->count = 1;
    }
    if (!r->err)
        r->err = EIO; /* torn and stdio short report EIO unless errno= says otherwise */

    /* Narrow the call set to what each selector and effect can apply to. */
    static const struct {
        unsigned eff;
        const char *name;
        bool (*pred)(const struct fl_op_info *);
        const char *applies_to;
    } effects[] = {
        {FL_EFF_ERRNO, "errno", pred_errno, "every call but dns (use eai=) and time"},
        {FL_EFF_DELAY, "delay", pred_any, "every call"},
        {FL_EFF_HANG, "hang", pred_hang, "every call but mem and time"},
        {FL_EFF_SHORT, "short", pred_short, "read and write calls that return a count"},
        {FL_EFF_TORN, "torn", pred_torn, "write calls that return a count"},
        {FL_EFF_DROP, "drop", pred_drop, "writes and syncs"},
        {FL_EFF_CORRUPT, "corrupt", pred_corrupt, "reads"},
        {FL_EFF_EAI, "eai", pred_eai, "dns"},
        {FL_EFF_OFFSET, "offset", pred_offset, "time"},
        {FL_EFF_EOF, "eof", pred_eof, "reads"},
        {FL_EFF_SILENT, "silent", pred_silent, "net.connect and receives on sockets (not stdio)"},
        {FL_EFF_SIGNAL, "signal", pred_any, "every call"},
    };
    for (size_t e = 0; e < sizeof(effects) / sizeof(effects[0]); e++)
        if (r->effects & effects[e].eff)
            narrow[nnarrow++] = (struct narrowing){effects[e].name, effects[e].pred,
                                                   effects[e].applies_to,
                                                   effect_col[__builtin_ctz(effects[e].eff)]};
    if ((r->effects & FL_EFF_SIGNAL) && r->signal_after)
        narrow[nnarrow++] = (struct narrowing){"signal=...@after", pred_signal_after,
                                               "every call but mem and time",
                                               effect_col[__builtin_ctz(FL_EFF_SIGNAL)]};
    for (int i = 0; i < nnarrow; i++) {
        struct opset allowed = opset_where(narrow[i].pred);
        opset_and(&ops, &allowed);
        if (opset_empty(&ops)) {
            *col = narrow[i].col;
            rc = fl_err_set(err, EINVAL, "'%s' does not apply to '%s' (it applies to %s)",
                            narrow[i].what, tok[0].text, narrow[i].applies_to);
            goto out;
        }
    }

    /* fd kinds: an explicit kind= wins; otherwise what the families imply. Calls on a path
     * (open, rename) are on files, so they stay only if files are allowed. */
    r->kinds = have_kind ? r->kinds : implied_kinds;
    if (r->effects & FL_EFF_SILENT) {
        /* only a socket has a peer that can fall silent */
        r->kinds &= FL_KIND_SOCKET;
        if (!r->kinds) {
            *col = effect_col[__builtin_ctz(FL_EFF_SILENT)];
            rc = fl_err_set(err, EINVAL, "'silent' applies to sockets, and 'kind' excludes them");
            goto out;
        }
    }
    if (!(r->kinds & FL_KIND_FILE)) {
        for (int i = 0; i < FL_OP_COUNT; i++)
            if (opset_has(&ops, i) &&
                (fl_op_table[i].cls == FL_CLS_OPEN || fl_op_table[i].cls == FL_CLS_METAPATH))
                ops.w[i / 64] &= ~(UINT64_C(1) << (i % 64));
        if (opset_empty(&ops)) {
            rc = fl_err_set(err, EINVAL, "'kind' excludes files, and '%s' only opens or names "
                                         "files", tok[0].text);
            goto out;
        }
    }
    memcpy(r->ops, ops.w, sizeof(r->ops));
    rc = 0;
out:
    free(tok);
    return rc;
}

/* Column of the "id=" part of a rule (1 if none: a default id cannot clash). */
static int id_column(const char *text)
{
    const char *p = strstr(text, ":id=");
    return p ? (int)(p - text) + 2 : 1;
}

int fl_rule_set_add(struct fl_rule_set *set, const char *text, const char *origin, unsigned line,
                    struct fl_err *err)
{
    char place[300];
    if (line)
        snprintf(place, sizeof(place), "%s:%u", origin, line);
    else
        snprintf(place, sizeof(place), "%s", origin);
    if (set->n >= FL_RULES_MAX)
        return fl_err_set(err, E2BIG, "%s%s1: too many rules (at most %d)", place,
                          line ? ":" : ", col ", FL_RULES_MAX);
    struct fl_ctl_rule *r = &set->rules[set->n];
    int col;
    struct fl_err perr;
    if (fl_rule_parse(text, r, &col, &perr) < 0)
        return line ? fl_err_set(err, EINVAL, "%s:%d: %s", place, col, perr.msg)
                    : fl_err_set(err, EINVAL, "%s, col %d: %s", place, col, perr.msg);
    if (!r->id[0])
        snprintf(r->id, sizeof(r->id), "%u", set->n + 1);
    if (strlen(text) >= FL_RULE_SOURCE_MAX)
        return fl_err_set(err, EINVAL, "%s: rule longer than %d characters", place,
                          FL_RULE_SOURCE_MAX - 1);
    snprintf(set->source[set->n], FL_RULE_SOURCE_MAX, "%s", text);
    for (unsigned i = 0; i < set->n; i++)
        if (strcmp(set->rules[i].id, r->id) == 0)
            return fl_err_set(err, EINVAL, "%s%s%d: id '%s' is already used by rule %u", place,
                              line ? ":" : ", col ", id_column(text), r->id, i + 1);
    set->n++;
    return 0;
}

int fl_rule_set_load_file(struct fl_rule_set *set, const char *path, struct fl_err *err)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return fl_err_set(err, errno, "%s: cannot read rules file: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && !S_ISREG(st.st_mode)) {
        fclose(f);
        return fl_err_set(err, EINVAL, "%s: not a rules file (expected a regular file, one rule "
                                       "per line)", path);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned lineno = 0;
    int rc = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n > 4096) {
            rc = fl_err_set(err, EINVAL, "%s:%u:1: line longer than 4096 characters", path,
                            lineno);
            break;
        }
        /* strip the comment and surrounding blanks, keeping columns true */
        /* '#' starts a comment at the start of a line or after a blank, so a glob may hold one */
        for (char *h = line; *h; h++)
            if (*h == '#' && (h == line || h[-1] == ' ' || h[-1] == '\t')) {
                *h = '\0';
                break;
            }
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == ' ' || line[len - 1] == '\t' ||
                       line[len - 1] == '\r'))
            line[--len] = '\0';
        size_t lead = strspn(line, " \t");
        if (!line[lead])
            continue;
        struct fl_err perr;
        if (set->n >= FL_RULES_MAX) {
            rc = fl_err_set(err, E2BIG, "%s:%u:1: too many rules (at most %d)", path, lineno,
                            FL_RULES_MAX);
            break;
        }
        struct fl_ctl_rule *r = &set->rules[set->n];
        int col;
        if (fl_rule_parse(line + lead, r, &col, &perr) < 0) {
            rc = fl_err_set(err, EINVAL, "%s:%u:%d: %s", path, lineno, col + (int)lead, perr.msg);
            break;
        }
        if (!r->id[0])
            snprintf(r->id, sizeof(r->id), "%u", set->n + 1);
        for (unsigned i = 0; i < set->n; i++)
            if (strcmp(set->rules[i].id, r->id) == 0) {
                rc = fl_err_set(err, EINVAL, "%s:%u:%d: id '%s' is already used by rule %u",
                                path, lineno, id_column(line + lead) + (int)lead, r->id, i + 1);
                goto done;
            }
        snprintf(set->source[set->n], FL_RULE_SOURCE_MAX, "%s", line + lead);
        set->n++;
    }
    if (!rc && ferror(f))
        rc = fl_err_set(err, EIO, "%s: read error", path);
done:
    free(line);
    fclose(f);
    return rc;
}

void fl_rule_describe_effect(const struct fl_ctl_rule *r, char *buf, size_t len)
{
    char tmp[64];
    size_t n = 0;
    buf[0] = '\0';
#define ADD(...) (n += (size_t)snprintf(buf + n, n < len ? len - n : 0, __VA_ARGS__))
    if (r->effects & FL_EFF_DELAY)
        ADD("delay %s, ", fl_format_duration(r->delay_ns, tmp, sizeof(tmp)));
    if (r->effects & FL_EFF_HANG)
        ADD("hang until off, ");
    if (r->effects & FL_EFF_SIGNAL)
        ADD("SIG%s %s the call, ", sigabbrev_np(r->signo) ? sigabbrev_np(r->signo) : "?",
            r->signal_after ? "after" : "before");
    if (r->effects & FL_EFF_SHORT) {
        if (r->short_is_share)
            ADD("short to %g%%", (double)r->short_value / 10000.0);
        else
            ADD("short to %s", fl_format_size(r->short_value, tmp, sizeof(tmp)));
    } else if (r->effects & FL_EFF_TORN) {
        ADD("torn after %s, %s", fl_format_size(r->torn_bytes, tmp, sizeof(tmp)),
            fl_errno_name(r->err));
    } else if (r->effects & FL_EFF_DROP) {
        ADD("drop (report success, do nothing)");
    } else if (r->effects & FL_EFF_CORRUPT) {
        ADD("corrupt %u bit%s", r->corrupt_bits, r->corrupt_bits == 1 ? "" : "s");
    } else if (r->effects & FL_EFF_EAI) {
        ADD("%s", fl_eai_name(r->eai));
    } else if (r->effects & FL_EFF_OFFSET) {
        ADD("clock %s%s", r->offset_ns >= 0 ? "+" : "",
            fl_format_duration(r->offset_ns, tmp, sizeof(tmp)));
    } else if (r->effects & FL_EFF_EOF) {
        ADD("end of file (read returns 0)");
    } else if (r->effects & FL_EFF_SILENT) {
        ADD("silent peer (never answers)");
    } else if (r->effects & FL_EFF_ERRNO) {
        ADD("%s", fl_errno_name(r->err));
    } else if (n >= 2) {
        buf[n - 2] = '\0'; /* only a wait: drop the trailing ", " */
    }
#undef ADD
}
