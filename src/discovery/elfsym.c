/* SPDX-License-Identifier: MIT */
#include "elfsym.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ELF_READ_MAX (256u << 20)

struct image {
    const unsigned char *p;
    size_t len;
};

/* [off, off + n) lies in the image */
static bool in_image(const struct image *im, uint64_t off, uint64_t n)
{
    return off <= im->len && n <= im->len - off;
}

/* One body for both classes: Ehdr, Phdr, Shdr and Sym are the class's types. The address
 * looked up is the offset plus the page-aligned lowest PT_LOAD address, which is what the
 * file's first mapping starts at (0 for a shared object or a PIE). */
#define DEFINE_LOOKUP(fn, Ehdr, Phdr, Shdr, Sym, ST_TYPE)                                         \
    static int fn(const struct image *im, uint64_t offset, char *name, size_t cap)               \
    {                                                                                            \
        if (!in_image(im, 0, sizeof(Ehdr)))                                                      \
            return -ENOEXEC;                                                                     \
        const Ehdr *eh = (const Ehdr *)im->p;                                                    \
        /* tables where the file says: misaligned is not an ELF file this reader takes */        \
        if (eh->e_phoff % _Alignof(Phdr) || eh->e_shoff % _Alignof(Shdr))                        \
            return -ENOEXEC;                                                                     \
        if (eh->e_phentsize != sizeof(Phdr) || eh->e_shentsize != sizeof(Shdr) ||                \
            !in_image(im, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Phdr)) ||                  \
            !in_image(im, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Shdr)))                    \
            return -ENOEXEC;                                                                     \
        const Phdr *ph = (const Phdr *)(im->p + eh->e_phoff);                                    \
        uint64_t low = UINT64_MAX;                                                               \
        for (unsigned i = 0; i < eh->e_phnum; i++)                                               \
            if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr < low)                                  \
                low = ph[i].p_vaddr;                                                             \
        if (low == UINT64_MAX)                                                                   \
            return -ENOEXEC;                                                                     \
        uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);                                         \
        uint64_t addr = offset + (low & ~(page - 1));                                            \
        const Shdr *sh = (const Shdr *)(im->p + eh->e_shoff);                                    \
        static const unsigned kinds[] = {SHT_SYMTAB, SHT_DYNSYM};                                \
        for (unsigned k = 0; k < 2; k++) {                                                       \
            const char *best = NULL;                                                             \
            uint64_t best_size = UINT64_MAX;                                                     \
            size_t best_max = 0;                                                                 \
            for (unsigned s = 0; s < eh->e_shnum; s++) {                                         \
                if (sh[s].sh_type != kinds[k] || sh[s].sh_entsize != sizeof(Sym) ||              \
                    sh[s].sh_link >= eh->e_shnum || sh[s].sh_offset % _Alignof(Sym) ||           \
                    !in_image(im, sh[s].sh_offset, sh[s].sh_size))                               \
                    continue;                                                                    \
                const Shdr *strs = &sh[sh[s].sh_link];                                           \
                if (!in_image(im, strs->sh_offset, strs->sh_size))                               \
                    continue;                                                                    \
                const char *str = (const char *)im->p + strs->sh_offset;                         \
                const Sym *sym = (const Sym *)(im->p + sh[s].sh_offset);                         \
                size_t n = sh[s].sh_size / sizeof(Sym);                                          \
                for (size_t i = 0; i < n; i++) {                                                 \
                    unsigned type = ST_TYPE(sym[i].st_info);                                     \
                    if ((type != STT_FUNC && type != STT_GNU_IFUNC) ||                           \
                        sym[i].st_shndx == SHN_UNDEF || sym[i].st_name >= strs->sh_size)         \
                        continue;                                                                \
                    uint64_t v = sym[i].st_value, size = sym[i].st_size;                         \
                    if (addr < v || addr - v >= (size ? size : 1) || size >= best_size)          \
                        continue;                                                                \
                    best = str + sym[i].st_name;                                                 \
                    best_max = strs->sh_size - sym[i].st_name;                                   \
                    best_size = size;                                                            \
                }                                                                                \
            }                                                                                    \
            if (best) {                                                                          \
                size_t len = strnlen(best, best_max);                                            \
                if (len >= cap)                                                                  \
                    len = cap - 1;                                                               \
                memcpy(name, best, len);                                                         \
                name[len] = '\0';                                                                \
                return 0;                                                                        \
            }                                                                                    \
        }                                                                                        \
        return -ENOENT;                                                                          \
    }

DEFINE_LOOKUP(lookup64, Elf64_Ehdr, Elf64_Phdr, Elf64_Shdr, Elf64_Sym, ELF64_ST_TYPE)
DEFINE_LOOKUP(lookup32, Elf32_Ehdr, Elf32_Phdr, Elf32_Shdr, Elf32_Sym, ELF32_ST_TYPE)

int fl_elf_function_at(const char *path, uint64_t offset, char *name, size_t cap)
{
    if (!cap)
        return -EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < EI_NIDENT || (uint64_t)st.st_size > ELF_READ_MAX) {
        close(fd);
        return -ENOEXEC;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return -errno;
    struct image im = {map, (size_t)st.st_size};
    const unsigned char *id = im.p;
    int rc = -ENOEXEC;
    int native = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
    if (!memcmp(id, ELFMAG, SELFMAG) && id[EI_DATA] == native) {
        if (id[EI_CLASS] == ELFCLASS64)
            rc = lookup64(&im, offset, name, cap);
        else if (id[EI_CLASS] == ELFCLASS32)
            rc = lookup32(&im, offset, name, cap);
    }
    munmap(map, im.len);
    return rc;
}
