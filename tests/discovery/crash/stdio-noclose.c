/* SPDX-License-Identifier: MIT */
/* stdio-noclose: saves the count COUNT into state.json ({"count": COUNT}) with fopen and
 * fprintf, prints "saved COUNT" and returns from main without closing the stream: glibc
 * writes the stream's buffer at exit. Usage: stdio-noclose STATE_FILE COUNT
 * BUG: "saved" is printed before the data even left the process, and nothing is ever fsynced:
 * the file is truncated in place, and a power loss leaves it empty. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s STATE_FILE COUNT\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "w");
    if (!f || fprintf(f, "{\"count\": %ld}\n", strtol(argv[2], NULL, 10)) < 0) {
        perror(argv[1]);
        return 1;
    }
    printf("saved %ld\n", strtol(argv[2], NULL, 10));
    fflush(stdout);
    return 0; /* no fclose(f): exit flushes it */
}
