/* SPDX-License-Identifier: MIT */
/*
 * svg.h - small inline-SVG helpers shared by the HTML pages (the report of a run, of a sweep,
 * and the history page): "nice" axis ticks, the page's stylesheet and its head, so every page
 * looks the same in light and dark and none can fetch anything.
 */
#ifndef FL_SVG_H
#define FL_SVG_H

#include <stdio.h>

/* A step of 1, 2 or 5 times a power of ten, giving about `want` ticks over span. */
double fl_svg_nice_step(double span, int want);

/* The <style> element both pages use: colours are CSS variables with a dark variant, and the
 * SVG marks take their colours from classes, so charts follow the theme too. */
void fl_svg_style(FILE *out);

/* A page up to its <body>: doctype, charset, viewport, colour schemes, a Content-Security-
 * Policy that allows no fetch and no script, <title> (title escaped), the stylesheet, then
 * extra_css (a page's own rules, or NULL) in a <style> of its own. */
void fl_html_begin(FILE *out, const char *title, const char *extra_css);

#endif
