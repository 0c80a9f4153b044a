/* SPDX-License-Identifier: MIT */
/* showconf: reads a service config of "key=value" lines ('#' starts a comment) and prints
 * the settings it found as "name=N port=P workers=W". Usage: showconf CONFIG_FILE
 * BUG: strchr(line, '=') is not checked: a line without '=' (a truncated file) is a NULL write. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct config {
    char name[64];
    long port;
    long workers;
};

static int parse(const char *path, char *text, struct config *c)
{
    char *save = NULL;
    int lineno = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (line[0] == '#')
            continue;
        char *eq = strchr(line, '=');
        *eq = '\0';
        const char *key = line, *value = eq + 1;
        if (strcmp(key, "name") == 0)
            snprintf(c->name, sizeof c->name, "%s", value);
        else if (strcmp(key, "port") == 0)
            c->port = strtol(value, NULL, 10);
        else if (strcmp(key, "workers") == 0)
            c->workers = strtol(value, NULL, 10);
        else
            fprintf(stderr, "%s:%d: unknown key '%s' ignored\n", path, lineno, key);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static char text[4096];
    struct config c = {"unnamed", 80, 1};
    if (argc != 2) {
        fprintf(stderr, "usage: showconf CONFIG_FILE\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    /* read to the end: a read may return less than the file holds */
    ssize_t n = 0, got = fd < 0 ? -1 : 1;
    while (got > 0 && (size_t)n < sizeof text - 1)
        if ((got = read(fd, text + n, sizeof text - 1 - (size_t)n)) > 0)
            n += got;
    if (got < 0)
        n = -1;
    if (n < 0) {
        fprintf(stderr, "showconf: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    close(fd);
    text[n] = '\0';
    if (parse(argv[1], text, &c) < 0)
        return 2;
    printf("name=%s port=%ld workers=%ld\n", c.name, c.port, c.workers);
    return 0;
}
