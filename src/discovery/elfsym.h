/* SPDX-License-Identifier: MIT */
/* The function an address of a program or library falls in, read from the file's own symbol
 * tables (.symtab when the file has one, else .dynsym), so a crash at "prog+0x1374" can be
 * shown as "prog+0x1374 (parse_line)" with no debugger and no debug package. */
#ifndef FL_ELFSYM_H
#define FL_ELFSYM_H

#include <stddef.h>
#include <stdint.h>

/* offset: an address minus the load address of the file (where its first mapping starts, as
 * /proc/PID/maps shows it). Writes the name of the function whose [value, value + size)
 * holds it into name (cut to cap) and returns 0; -ENOENT when no function symbol holds it
 * (a stripped static function), another -errno when the file cannot be read or is not an
 * ELF file this reader understands (ELF32 or ELF64 in this machine's byte order). Reads at most 256 MiB. */
int fl_elf_function_at(const char *path, uint64_t offset, char *name, size_t cap);

#endif
