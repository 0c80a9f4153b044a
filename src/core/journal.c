/* SPDX-License-Identifier: MIT */
/* journal.c - see journal.h. Durability order matters: data, fsync, rename, fsync(dir). */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int mkdir_p(char *path, mode_t mode)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, mode) < 0 && errno != EEXIST) {
            *p = '/';
            return -errno;
        }
        *p = '/';
    }
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int fl_state_dir(const char *override, char *buf, size_t len, struct fl_err *err)
{
    const char *env;
    if (override && *override)
        snprintf(buf, len, "%s", override);
    else if ((env = getenv("FAULTLINE_STATE_DIR")) && *env)
        snprintf(buf, len, "%s", env);
    else if ((env = getenv("XDG_STATE_HOME")) && *env == '/')
        snprintf(buf, len, "%s/faultline", env);
    else if ((env = getenv("HOME")) && *env)
        snprintf(buf, len, "%s/.local/state/faultline", env);
    else
        return fl_err_set(err, ENOENT, "no state directory: set --state-dir or "
                                       "FAULTLINE_STATE_DIR");
    return 0;
}

int fl_journal_open(struct fl_journal *j, const char *state_dir, struct fl_err *err)
{
    int n = snprintf(j->state, sizeof(j->state), "%s", state_dir);
    if (n < 0 || (size_t)n >= sizeof(j->state))
        return fl_err_set(err, ENAMETOOLONG, "%s: state directory path too long", state_dir);
    n = snprintf(j->dir, sizeof(j->dir), "%s/journal", state_dir);
    if (n < 0 || (size_t)n >= sizeof(j->dir))
        return fl_err_set(err, ENAMETOOLONG, "%s: state directory path too long", state_dir);
    int rc = mkdir_p(j->dir, 0700);
    if (rc < 0)
        return fl_err_set(err, -rc, "%s: cannot create journal directory: %s", j->dir,
                          strerror(-rc));
    if (access(j->dir, W_OK) < 0)
        return fl_err_set(err, errno, "%s: journal directory not writable: %s", j->dir,
                          strerror(errno));
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int write_entry(struct fl_journal *j, json_t *entry, const char *id, struct fl_err *err)
{
    char tmp[4400], final[4400];
    snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", j->dir, id);
    snprintf(final, sizeof(final), "%s/%s.json", j->dir, id);
    char *text = json_dumps(entry, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text)
        return fl_err_set(err, ENOMEM, "cannot encode journal entry");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = 0;
    if (fd < 0) {
        rc = fl_err_set(err, errno, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = fl_err_set(err, w < 0 ? errno : EIO, "%s: write: %s", tmp,
                            strerror(w < 0 ? errno : EIO));
            break;
        }
        off += (size_t)w;
    }
    if (!rc && write(fd, "\n", 1) != 1)
        rc = fl_err_set(err, errno ? errno : EIO, "%s: write failed", tmp);
    if (!rc && fsync(fd) < 0)
        rc = fl_err_set(err, errno, "%s: fsync: %s", tmp, strerror(errno));
    close(fd);
    if (!rc && rename(tmp, final) < 0)
        rc = fl_err_set(err, errno, "%s: rename: %s", final, strerror(errno));
    if (!rc && (rc = fsync_dir(j->dir)) < 0)
        rc = fl_err_set(err, -rc, "%s: fsync: %s", j->dir, strerror(-rc));
    if (rc)
        unlink(tmp);
out:
    free(text);
    return rc;
}

int fl_journal_write(struct fl_journal *j, json_t *entry, char *id_out, size_t id_len,
                     struct fl_err *err)
{
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char id[64];
    /* seconds and nanoseconds, zero-padded: ids sort in the order they were written */
    snprintf(id, sizeof(id), "%010lld.%09ld-%d-%u", (long long)ts.tv_sec, (long)ts.tv_nsec,
             (int)getpid(), ++counter);
    json_object_set_new(entry, "id", json_string(id));
    if (id_out)
        snprintf(id_out, id_len, "%s", id);
    return write_entry(j, entry, id, err);
}

int fl_journal_update(struct fl_journal *j, json_t *entry, struct fl_err *err)
{
    const char *id = json_string_value(json_object_get(entry, "id"));
    if (!id)
        return fl_err_set(err, EINVAL, "journal entry without id");
    return write_entry(j, entry, id, err);
}

int fl_journal_remove(struct fl_journal *j, const char *id, struct fl_err *err)
{
    char path[4400];
    snprintf(path, sizeof(path), "%s/%s.json", j->dir, id);
    if (unlink(path) < 0 && errno != ENOENT)
        return fl_err_set(err, errno, "%s: %s", path, strerror(errno));
    int rc = fsync_dir(j->dir);
    if (rc < 0)
        return fl_err_set(err, -rc, "%s: fsync: %s", j->dir, strerror(-rc));
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int fl_journal_list(struct fl_journal *j, json_t **entries, struct fl_err *err)
{
    DIR *d = opendir(j->dir);
    if (!d)
        return fl_err_set(err, errno, "%s: %s", j->dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".json") != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof(*names));
            if (!nn)
                break;
            names = nn;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_names);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char path[4400];
        snprintf(path, sizeof(path), "%s/%s", j->dir, names[i]);
        json_error_t jerr;
        json_t *e = json_load_file(path, 0, &jerr);
        if (!e || !json_is_object(e)) {
            const char *why = e ? "not a JSON object" : jerr.text;
            json_decref(e);
            names[i][strlen(names[i]) - 5] = '\0';
            e = json_pack("{s:s, s:s}", "id", names[i], "unreadable", why);
        }
        json_array_append_new(arr, e);
        free(names[i]);
    }
    free(names);
    *entries = arr;
    return 0;
}

int fl_journal_lock(struct fl_journal *j)
{
    char path[4400];
    snprintf(path, sizeof(path), "%s/.lock", j->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

uint64_t fl_proc_starttime(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* the command name may hold spaces and ')': fields start after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    /* field 22 is starttime; after ')' comes field 3 */
    for (int field = 3; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

bool fl_proc_is_zombie(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] == 'Z';
}

bool fl_owner_alive(pid_t pid, uint64_t starttime)
{
    if (pid <= 0)
        return false;
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return false;
    uint64_t now = fl_proc_starttime(pid);
    if (now == 0)
        return false;
    /* a zombie is gone for our purposes: it will never revert anything */
    if (fl_proc_is_zombie(pid))
        return false;
    return starttime == 0 || now == starttime;
}
