/* SPDX-License-Identifier: MIT */
/* stock: keeps an inventory in FILE, one "ITEM COUNT" line per item. It loads the file (a
 * missing file is an empty inventory), sets ITEM to COUNT, saves the file (temp + fsync +
 * rename) and prints "ITEM COUNT (N items)". Usage: stock FILE ITEM COUNT
 * FIXED: only ENOENT means "no inventory yet"; any other load error is reported, exit 1. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ITEMS 256

struct item {
    char name[64];
    long count;
};

static struct item items[MAX_ITEMS];
static int n_items;

/* loads path into items; -1 with errno set if it cannot (ENOENT: there is no file) */
static int load(const char *path)
{
    static char text[1 << 16];
    size_t len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    for (ssize_t n = 1; n > 0 && len < sizeof text - 1; len += (size_t)n) {
        if ((n = read(fd, text + len, sizeof text - 1 - len)) < 0) {
            int e = errno;
            close(fd);
            return errno = e, -1;
        }
    }
    close(fd);
    text[len] = '\0';
    char *save = NULL, *l = strtok_r(text, "\n", &save);
    for (; l && n_items < MAX_ITEMS; l = strtok_r(NULL, "\n", &save))
        if (sscanf(l, "%63s %ld", items[n_items].name, &items[n_items].count) == 2)
            n_items++;
    return 0;
}

static int save(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    for (int i = 0; i < n_items; i++)
        fprintf(f, "%s %ld\n", items[i].name, items[i].count);
    if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
        fclose(f);
        return -1;
    }
    if (fclose(f) != 0 || rename(tmp, path) < 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: stock FILE ITEM COUNT\n");
        return 2;
    }
    if (load(argv[1]) < 0) {
        if (errno != ENOENT) {
            fprintf(stderr, "stock: loading %s: %s\n", argv[1], strerror(errno));
            return 1;
        }
        n_items = 0; /* no inventory yet: start an empty one */
    }
    int i = 0;
    while (i < n_items && strcmp(items[i].name, argv[2]) != 0)
        i++;
    if (i == n_items && n_items < MAX_ITEMS)
        snprintf(items[n_items++].name, sizeof items[0].name, "%s", argv[2]);
    items[i].count = strtol(argv[3], NULL, 10);
    if (save(argv[1]) < 0) {
        fprintf(stderr, "stock: saving %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    printf("%s %ld (%d items)\n", items[i].name, items[i].count, n_items);
    return 0;
}
