/* SPDX-License-Identifier: MIT */
/*
 * sweep-target: the small program bench/sweep.sh sweeps. About 100 interposed calls, no
 * sleeps: it reads an optional config, writes 30 report lines through stdio to a temporary
 * file, syncs it and renames it over report.txt, the careful way, and says "saved".
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    char cfg[256] = "lines=30\n";
    int fd = open("config", O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, cfg, sizeof(cfg) - 1);
        cfg[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    int lines = atoi(strchr(cfg, '=') ? strchr(cfg, '=') + 1 : "30");
    char *buf = malloc(4096);
    if (!buf)
        return 2;
    FILE *f = fopen("report.tmp", "w");
    if (!f) {
        perror("report.tmp");
        return 1;
    }
    for (int i = 0; i < lines; i++) {
        snprintf(buf, 4096, "line %d of %d\n", i + 1, lines);
        if (fputs(buf, f) == EOF) {
            perror("write");
            return 1;
        }
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0) {
        perror("report.tmp");
        return 1;
    }
    if (rename("report.tmp", "report.txt") != 0) {
        perror("rename");
        return 1;
    }
    free(buf);
    puts("saved");
    return 0;
}
