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

enum fl_report_doc fl_report_doc_of(const json_t *doc)
{
    if (!json_is_object(doc))
        return FL_DOC_OTHER;
    const char *tool = json_string_value(json_object_get(doc, "tool"));
    if (tool && !strcmp(tool, "faultline sweep"))
        return FL_DOC_SWEEP;
    return json_is_array(json_object_get(doc, "experiments")) ? FL_DOC_RESULTS : FL_DOC_OTHER;
}

int fl_report_write(const struct fl_report_ops *ops, const json_t *doc, const char *path,
                    struct fl_err *err)
{
    int (*render)(const json_t *, FILE *, struct fl_err *) = NULL;
    switch (fl_report_doc_of(doc)) {
    case FL_DOC_RESULTS:
        render = ops->render;
        break;
    case FL_DOC_SWEEP:
        if (!(render = ops->render_sweep))
            return fl_err_set(err, ENOTSUP, "the %s format has no view of a sweep's findings",
                              ops->name);
        break;
    case FL_DOC_OTHER:
        return fl_err_set(err, EINVAL, "neither a results document nor a sweep's findings");
    }
    if (!strcmp(path, "-")) {
        int rc = render(doc, stdout, err);
        fflush(stdout);
        return rc;
    }
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid());
    FILE *out = fopen(tmp, "w");
    if (!out)
        return fl_err_set(err, errno, "%s: %s", tmp, strerror(errno));
    int rc = render(doc, out, err);
    if (fclose(out) != 0 && rc == 0)
        rc = fl_err_set(err, errno, "%s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) < 0)
        rc = fl_err_set(err, errno, "%s: %s", path, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    return rc;
}
