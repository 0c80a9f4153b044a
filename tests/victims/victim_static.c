/* SPDX-License-Identifier: MIT */
/* victim_static.c - linked statically, so LD_PRELOAD cannot reach it; inject must warn. */
#include <stdio.h>

int main(void)
{
    puts("static victim ran");
    return 0;
}
