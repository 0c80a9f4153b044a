/* SPDX-License-Identifier: MIT */
/* svg.c - axis ticks, the shared stylesheet and head of the HTML pages; see svg.h. */
#include "svg.h"

#include <math.h>

#include "rutil.h"

double fl_svg_nice_step(double span, int want)
{
    if (!(span > 0) || want < 1)
        return 1;
    double raw = span / want;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

void fl_svg_style(FILE *out)
{
    fputs("<style>\n"
          ":root{--bg:#fff;--fg:#1b1f23;--muted:#5b636b;--line:#d0d7de;--card:#f6f8fa;"
          "--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--skip:#6e7781;--err:#8250df;"
          "--fault:#e36209;--grid:#e8ebef;"
          "--s0:#0969da;--s1:#bf3989;--s2:#1a7f37;--s3:#9a6700;--s4:#8250df;--s5:#57606a}\n"
          "@media (prefers-color-scheme: dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;"
          "--line:#30363d;--card:#161b22;--ok:#3fb950;--bad:#f85149;--warn:#d29922;"
          "--skip:#8b949e;--err:#a371f7;--fault:#f0883e;--grid:#21262d;"
          "--s0:#58a6ff;--s1:#f778ba;--s2:#3fb950;--s3:#d29922;--s4:#a371f7;--s5:#8b949e}}\n"
          "body{background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"
          "'Segoe UI',sans-serif;margin:0 auto;max-width:1040px;padding:16px 24px}\n"
          "h1{font-size:24px;margin:8px 0}h2{font-size:19px;margin:28px 0 8px;"
          "border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:15px;"
          "margin:16px 0 6px}\n"
          "table{border-collapse:collapse;margin:6px 0}th,td{border:1px solid var(--line);"
          "padding:3px 8px;text-align:left;vertical-align:top}th{background:var(--card)}"
          "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
          ".muted,.note{color:var(--muted)}.note{font-size:12px}"
          "code{background:var(--card);padding:0 3px;border-radius:3px}\n"
          ".badge{display:inline-block;border-radius:4px;padding:1px 7px;font-size:12px;"
          "font-weight:600;color:#fff;vertical-align:middle}\n"
          ".v-PASS{background:var(--ok)}.v-FAIL{background:var(--bad)}"
          ".v-XFAIL{background:var(--warn)}.v-XPASS{background:var(--s0)}"
          ".v-ERROR{background:var(--err)}.v-SKIP,.v-UNKNOWN{background:var(--skip)}\n"
          ".exp{border:1px solid var(--line);border-radius:6px;padding:4px 16px 12px;"
          "margin:18px 0}.exp h2{border:0}\n"
          ".why{font-weight:600}.met-no{color:var(--bad);font-weight:600}"
          ".met-yes{color:var(--ok)}\n"
          "svg{display:block;max-width:100%;height:auto}"
          "svg text{fill:var(--fg);font:11px system-ui,sans-serif}"
          "svg text.axis{fill:var(--muted)}\n"
          ".bgp{fill:var(--card)}.grid{stroke:var(--grid);stroke-width:1}"
          ".axisl{stroke:var(--muted);stroke-width:1}\n"
          ".mk-ok{fill:var(--ok)}.mk-fail{fill:var(--bad)}"
          ".fw{fill:var(--fault);fill-opacity:.16}.fwl{fill:var(--fault);fill-opacity:.75}"
          ".fwe{stroke:var(--fault);stroke-width:1;stroke-dasharray:3 2}\n"
          /* A fault window that did not fire: unshaded, a dashed outline (red; grey when the
           * step allowed it). pointer-events keeps its tooltip where there is no fill. */
          ".fw-never,.fw-allowed{fill:none;pointer-events:all}"
          ".fwl-never,.fwl-allowed{fill:none;pointer-events:all;stroke-width:1.5;"
          "stroke-dasharray:4 3}.fwl-never{stroke:var(--bad)}.fwl-allowed{stroke:var(--skip)}"
          ".fwe-never,.fwe-allowed{stroke-width:1;stroke-dasharray:3 2}"
          ".fwe-never{stroke:var(--bad)}.fwe-allowed{stroke:var(--skip)}"
          "svg text.fwt-never{fill:var(--bad);font-weight:600}"
          "svg text.fwt-allowed{fill:var(--muted)}\n"
          ".ph{fill:var(--grid);stroke:var(--line)}.ph-bad{fill:var(--bad);fill-opacity:.25;"
          "stroke:var(--bad)}.phl{stroke:var(--muted);stroke-width:1;stroke-dasharray:2 3}\n"
          ".ln{fill:none;stroke-width:1.4;stroke-linejoin:round}"
          ".ld{fill:none;stroke-width:1.4;stroke-dasharray:5 3}"
          ".c0{stroke:var(--s0)}.c1{stroke:var(--s1)}.c2{stroke:var(--s2)}.c3{stroke:var(--s3)}"
          ".c4{stroke:var(--s4)}.c5{stroke:var(--s5)}\n"
          ".f0{fill:var(--s0)}.f1{fill:var(--s1)}.f2{fill:var(--s2)}.f3{fill:var(--s3)}"
          ".f4{fill:var(--s4)}.f5{fill:var(--s5)}\n"
          "details{margin:6px 0}pre{background:var(--card);padding:8px;overflow-x:auto;"
          "font-size:12px}\n"
          "</style>\n", out);
}

void fl_html_begin(FILE *out, const char *title, const char *extra_css)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<meta name=\"color-scheme\" content=\"light dark\">\n"
          /* No network, no script: the page is a document, not an application. */
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; img-src data:\">\n<title>", out);
    fl_xml_puts(out, title);
    fputs("</title>\n", out);
    fl_svg_style(out);
    if (extra_css)
        fprintf(out, "<style>%s</style>\n", extra_css);
    fputs("</head>\n<body>\n", out);
}
