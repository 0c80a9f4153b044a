/* SPDX-License-Identifier: MIT */
/* rs-save STATE N: saves {"count": I} into STATE N times with rs_file_replace (keeping
 * STATE.bak), printing "saved I" once save I returned; the first failed save is reported on
 * stderr and ends the program with status 1. The same contract as the crash corpus's state
 * writers (tests/discovery/crash/check_state.py holds it to what it printed), so faultline's
 * crash and sweep can judge the library as they judge them. */
#include <stdio.h>
#include <stdlib.h>

#include <resilience/file.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s STATE N\n", argv[0]);
        return 2;
    }
    long n = strtol(argv[2], NULL, 10);
    for (long i = 1; i <= n; i++) {
        char buf[64];
        int len = snprintf(buf, sizeof(buf), "{\"count\": %ld}\n", i);
        struct rs_err err;
        if (rs_file_replace(argv[1], buf, (size_t)len, 0, RS_FILE_KEEP_BACKUP, &err) < 0) {
            fprintf(stderr, "rs-save: %s\n", err.msg);
            return 1;
        }
        printf("saved %ld\n", i);
        fflush(stdout);
    }
    return 0;
}
