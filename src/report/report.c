/* SPDX-License-Identifier: MIT */
/* report.c - the report registry and writing a report safely; see report.h. */
#include "report.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FL_REPORT_REF(name) &fl_report_##name,
const struct fl_report_ops *const fl_reports[] = {FL_REPORTS(FL_REPORT_REF)};
#undef FL_REPORT_REF
const size_t fl_report_count = sizeof(fl_reports) / sizeof(fl_reports[0]);

const struct fl_report_ops *fl_report_find(const char *name)
{
    for (size_t i = 0; i < fl_report_count; i++)
        if (!strcmp(fl_reports[i]->name, name))
            return fl_reports[i];
    return NULL;
}

int fl_report_write(const struct fl_report_ops *ops, const json_t *results, const char *path,
                    struct fl_err *err)
{
    if (!strcmp(path, "-")) {
        int rc = ops->render(results, stdout, err);
        fflush(stdout);
        return rc;
    }
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid());
    FILE *out = fopen(tmp, "w");
    if (!out)
        return fl_err_set(err, errno, "%s: %s", tmp, strerror(errno));
    int rc = ops->render(results, out, err);
    if (fclose(out) != 0 && rc == 0)
        rc = fl_err_set(err, errno, "%s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) < 0)
        rc = fl_err_set(err, errno, "%s: %s", path, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    return rc;
}
