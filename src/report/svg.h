/* SPDX-License-Identifier: MIT */
/*
 * svg.h - small inline-SVG helpers shared by the HTML report and the HTML history page:
 * "nice" axis ticks and the page's stylesheet, so both pages look the same in light and dark.
 */
#ifndef FL_SVG_H
#define FL_SVG_H

#include <stdio.h>

/* A step of 1, 2 or 5 times a power of ten, giving about `want` ticks over span. */
double fl_svg_nice_step(double span, int want);

/* The <style> element both pages use: colours are CSS variables with a dark variant, and the
 * SVG marks take their colours from classes, so charts follow the theme too. */
void fl_svg_style(FILE *out);

#endif
