/* SPDX-License-Identifier: MIT */
/* faults/corrupt_sqlite.c - placeholder for the SQLite-aware corruption modes. */
#include "fault.h"
