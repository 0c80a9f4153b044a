/* SPDX-License-Identifier: MIT */
/* fl_elf_function_at on this test's own executable: a function's address (relative to the
 * executable's load address) is named, an address in no function is not, and every truncation
 * or corruption of the file is a clean error, never a crash or a wrong read. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "elfsym.h"
#include "tmpdir.h"

int fl_test_marker_function(int x);
__attribute__((noinline, used)) int fl_test_marker_function(int x)
{
    return x * 3 + 1;
}

static uint64_t offset_of(void *fn)
{
    Dl_info info;
    assert_true(dladdr(fn, &info) != 0);
    return (uint64_t)((uintptr_t)fn - (uintptr_t)info.dli_fbase);
}

static char self[4096];

static void read_self(void)
{
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    assert_true(n > 0);
    self[n] = '\0';
}

static void test_names_a_function(void **state)
{
    (void)state;
    read_self();
    char name[128];
    uint64_t off = offset_of((void *)fl_test_marker_function);
    assert_int_equal(fl_elf_function_at(self, off, name, sizeof(name)), 0);
    assert_string_equal(name, "fl_test_marker_function");
    /* a byte inside it too */
    assert_int_equal(fl_elf_function_at(self, off + 1, name, sizeof(name)), 0);
    assert_string_equal(name, "fl_test_marker_function");
    /* cut to the caller's buffer */
    char small[5];
    assert_int_equal(fl_elf_function_at(self, off, small, sizeof(small)), 0);
    assert_string_equal(small, "fl_t");
    /* the ELF header is in no function */
    assert_int_equal(fl_elf_function_at(self, 0, name, sizeof(name)), -ENOENT);
}

static void test_bad_files_are_errors(void **state)
{
    (void)state;
    read_self();
    char name[64], dir[256], path[300];
    assert_int_equal(fl_elf_function_at("/nonexistent-xyz", 0, name, sizeof(name)), -ENOENT);
    assert_int_equal(fl_elf_function_at("/", 0, name, sizeof(name)), -ENOEXEC);
    assert_int_equal(fl_test_mkdtemp(dir, sizeof(dir), "elfsym"), 0);
    snprintf(path, sizeof(path), "%s/x", dir);
    FILE *f = fopen(path, "w");
    fputs("#!/bin/sh\necho not an ELF file\n", f);
    fclose(f);
    assert_int_equal(fl_elf_function_at(path, 0, name, sizeof(name)), -ENOEXEC);

    /* every prefix at 97 cut points, and a run of byte flips in the headers: an error or an
     * answer, never a read outside the file (ASan watches) */
    int fd = open(self, O_RDONLY);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    unsigned char *img = malloc((size_t)st.st_size);
    assert_int_equal(read(fd, img, (size_t)st.st_size), st.st_size);
    close(fd);
    uint64_t off = offset_of((void *)fl_test_marker_function);
    for (int k = 0; k <= 96; k++) {
        size_t len = (size_t)st.st_size * (size_t)k / 96;
        f = fopen(path, "w");
        fwrite(img, 1, len, f);
        fclose(f);
        int rc = fl_elf_function_at(path, off, name, sizeof(name));
        assert_true(rc == 0 || rc == -ENOEXEC || rc == -ENOENT);
    }
    srand(7);
    for (int k = 0; k < 300; k++) {
        unsigned char *copy = malloc((size_t)st.st_size);
        memcpy(copy, img, (size_t)st.st_size);
        for (int b = 0; b < 4; b++)
            copy[rand() % 256] ^= (unsigned char)(1u << (rand() % 8));
        f = fopen(path, "w");
        fwrite(copy, 1, (size_t)st.st_size, f);
        fclose(f);
        free(copy);
        int rc = fl_elf_function_at(path, off, name, sizeof(name));
        assert_true(rc == 0 || rc == -ENOEXEC || rc == -ENOENT);
    }
    free(img);
    fl_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_a_function),
        cmocka_unit_test(test_bad_files_are_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
