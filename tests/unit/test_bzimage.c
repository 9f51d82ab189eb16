/* Unit tests for bzImage header parsing, loading and the zero page. */
#include <errno.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot/bzimage.h"
#include "boot/layout.h"

#define IMG_SIZE   (16 * 1024)
#define SETUP_SECTS 3
#define HDR_END    0x26C        /* a 2.15 header ends after kernel_info_offset */

static uint8_t img[IMG_SIZE];

/* A synthetic bzImage: boot sector magic, a setup header, and a
 * recognisable protected-mode part. */
static void make_image(uint16_t version, uint16_t xloadflags)
{
    struct setup_header sh;

    memset(img, 0, sizeof(img));
    memset(&sh, 0, sizeof(sh));
    sh.setup_sects = SETUP_SECTS;
    sh.boot_flag = 0xAA55;
    sh.jump = (uint16_t)(0xEB | (HDR_END - 0x202) << 8);
    memcpy(&sh.header, "HdrS", 4);
    sh.version = version;
    sh.loadflags = LOADED_HIGH;
    sh.initrd_addr_max = 0x7FFFFFFF;
    sh.kernel_alignment = 0x200000;
    sh.relocatable_kernel = 1;
    sh.xloadflags = xloadflags;
    sh.cmdline_size = 2047;
    sh.pref_address = 0x1000000;
    sh.init_size = 0x800000;
    memcpy(img + BZIMAGE_HDR_OFFSET, &sh, sizeof(sh));
    for (size_t i = (SETUP_SECTS + 1) * 512; i < sizeof(img); i++)
        img[i] = (uint8_t)(i * 7);
}

static void make_good(void)
{
    make_image(0x020F, XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G);
}

static void test_good(void **state)
{
    struct bzimage_info info;
    struct setup_header sh;

    (void)state;
    make_good();
    assert_int_equal(bzimage_parse(img, sizeof(img), &info), 0);
    assert_int_equal(info.version, 0x020F);
    assert_int_equal(info.setup_size, (SETUP_SECTS + 1) * 512);
    assert_int_equal(info.pm_offset, (SETUP_SECTS + 1) * 512);
    assert_int_equal(info.pm_size, IMG_SIZE - (SETUP_SECTS + 1) * 512);
    assert_int_equal(info.init_size, 0x800000);
    assert_int_equal(info.pref_address, 0x1000000);
    assert_int_equal(info.kernel_alignment, 0x200000);
    assert_true(info.relocatable);
    assert_int_equal(info.initrd_addr_max, 0x7FFFFFFF);
    assert_int_equal(info.cmdline_size, 2047);
    assert_int_equal(info.hdr_len, HDR_END - BZIMAGE_HDR_OFFSET);
    assert_memory_equal(info.hdr, img + BZIMAGE_HDR_OFFSET, info.hdr_len);
    memcpy(&sh, info.hdr, sizeof(sh));
    assert_int_equal(sh.version, 0x020F);
}

static void test_old_protocol(void **state)
{
    struct bzimage_info info;

    (void)state;
    make_image(0x0205, XLF_KERNEL_64);
    assert_int_equal(bzimage_parse(img, sizeof(img), &info), -ENOTSUP);
    assert_int_equal(info.version, 0x0205);
}

static void test_missing_magic(void **state)
{
    struct bzimage_info info;

    (void)state;
    make_good();
    memcpy(img + 0x202, "HdrZ", 4);
    assert_int_equal(bzimage_parse(img, sizeof(img), &info), -ENOEXEC);
    make_good();
    img[0x1FE] = 0;
    assert_int_equal(bzimage_parse(img, sizeof(img), &info), -ENOEXEC);
}

/* Every prefix of a good image is rejected without reading past it. */
static void test_truncated(void **state)
{
    const size_t setup = (SETUP_SECTS + 1) * 512;
    struct bzimage_info info;

    (void)state;
    make_good();
    for (size_t len = 0; len <= setup; len++) {
        uint8_t *copy = malloc(len ? len : 1);

        assert_non_null(copy);
        memcpy(copy, img, len);
        assert_int_equal(bzimage_parse(copy, len, &info), -ENOEXEC);
        free(copy);
    }
    assert_int_equal(bzimage_parse(img, setup + 1, &info), 0);
    assert_int_equal(info.pm_size, 1);
}

static void test_setup_sects_zero(void **state)
{
    struct bzimage_info info;

    (void)state;
    make_good();
    img[BZIMAGE_HDR_OFFSET] = 0;
    assert_int_equal(bzimage_parse(img, sizeof(img), &info), 0);
    assert_int_equal(info.setup_size, 5 * 512);
    assert_int_equal(info.pm_offset, 5 * 512);
}

static void test_not_64bit(void **state)
{
    struct bzimage_info info;

    (void)state;
    make_image(0x020F, 0);
    assert_int_equal(bzimage_parse(img, sizeof(img), &info), -ENOTSUP);
    make_image(0x020B, XLF_KERNEL_64);       /* before xloadflags existed */
    assert_int_equal(bzimage_parse(img, sizeof(img), &info), -ENOTSUP);
    make_good();
    img[0x211] &= (uint8_t)~LOADED_HIGH;
    assert_int_equal(bzimage_parse(img, sizeof(img), &info), -ENOTSUP);
}

static void test_short_header(void **state)
{
    struct bzimage_info info;

    (void)state;
    make_good();
    img[0x201] = 0x20;      /* header would end at 0x222, before xloadflags */
    assert_int_equal(bzimage_parse(img, sizeof(img), &info), -ENOEXEC);
}

static void test_zero_page(void **state)
{
    static struct boot_params bp;
    struct boot_e820_entry e820[3] = {
        { 0, 0x9FC00, 1 }, { 0x100000, 0x3FF00000, 1 }, { 0x100000000ULL, 0x40000000, 1 },
    };
    struct bzimage_boot_args args = {
        .cmdline = LAYOUT_CMDLINE,
        .cmdline_len = 100,
        .initrd = 0x140000000ULL,
        .initrd_size = 0x123456,
        .rsdp = LAYOUT_ACPI,
        .e820 = e820,
        .e820_count = 3,
    };
    struct bzimage_info info;

    (void)state;
    make_good();
    assert_int_equal(bzimage_parse(img, sizeof(img), &info), 0);
    memset(&bp, 0xEE, sizeof(bp));
    assert_int_equal(bzimage_setup_zero_page(&info, &args, &bp), 0);
    assert_int_equal(bp.hdr.version, 0x020F);
    assert_int_equal(bp.hdr.boot_flag, 0xAA55);
    assert_int_equal(bp.hdr.type_of_loader, 0xFF);
    assert_int_equal(bp.hdr.loadflags, LOADED_HIGH | CAN_USE_HEAP);
    assert_int_equal(bp.hdr.heap_end_ptr, 0xFE00);
    assert_int_equal(bp.hdr.cmd_line_ptr, LAYOUT_CMDLINE);
    assert_int_equal(bp.ext_cmd_line_ptr, 0);
    assert_int_equal(bp.hdr.ramdisk_image, 0x40000000);
    assert_int_equal(bp.ext_ramdisk_image, 1);
    assert_int_equal(bp.hdr.ramdisk_size, 0x123456);
    assert_int_equal(bp.ext_ramdisk_size, 0);
    assert_int_equal(bp.e820_entries, 3);
    assert_memory_equal(bp.e820_table, e820, sizeof(e820));
    assert_int_equal(bp.acpi_rsdp_addr, LAYOUT_ACPI);
    assert_int_equal(bp.screen_info.orig_x, 0);     /* the rest is zeroed */
}

static void test_zero_page_limits(void **state)
{
    static struct boot_params bp;
    static struct boot_e820_entry many[E820_MAX_ENTRIES_ZEROPAGE + 1];
    struct bzimage_boot_args args = { .cmdline = LAYOUT_CMDLINE, .cmdline_len = 2048 };
    struct bzimage_info info;

    (void)state;
    make_image(0x020D, XLF_KERNEL_64);       /* no high initrd, no RSDP field */
    assert_int_equal(bzimage_parse(img, sizeof(img), &info), 0);
    assert_int_equal(bzimage_setup_zero_page(&info, &args, &bp), -E2BIG);
    args.cmdline_len = 2047;
    args.e820 = many;
    args.e820_count = ARRAY_SIZE(many);
    assert_int_equal(bzimage_setup_zero_page(&info, &args, &bp), -E2BIG);
    args.e820_count = E820_MAX_ENTRIES_ZEROPAGE;
    args.initrd = 0x7FFFF000;
    args.initrd_size = 0x2000;               /* ends past initrd_addr_max */
    assert_int_equal(bzimage_setup_zero_page(&info, &args, &bp), -ERANGE);
    args.initrd_size = 0x1000;
    args.rsdp = LAYOUT_ACPI;
    assert_int_equal(bzimage_setup_zero_page(&info, &args, &bp), 0);
    assert_int_equal(bp.e820_entries, E820_MAX_ENTRIES_ZEROPAGE);
    assert_int_equal(bp.acpi_rsdp_addr, 0);  /* protocol 2.13 has no field */
    assert_int_equal(bp.hdr.ramdisk_image, 0x7FFFF000);
}

static void test_load(void **state)
{
    static uint8_t ram[16 * MiB];
    struct bzimage_info info;
    struct guest_mem mem;
    gpa_t initrd;

    (void)state;
    make_good();
    guest_mem_init_fake(&mem, ram, sizeof(ram));
    assert_int_equal(bzimage_parse(img, sizeof(img), &info), 0);
    assert_int_equal(bzimage_load(&info, img, &mem, LAYOUT_KERNEL), 0);
    assert_memory_equal(ram + LAYOUT_KERNEL, img + info.pm_offset, info.pm_size);
    /* init_size (8 MiB) must fit too */
    assert_int_equal(bzimage_load(&info, img, &mem, 9 * MiB), -EFAULT);

    assert_int_equal(bzimage_initrd_place(&info, &mem, 9 * MiB, 0x1800, &initrd), 0);
    assert_int_equal(initrd, 16 * MiB - 0x2000);
    assert_int_equal(bzimage_initrd_place(&info, &mem, 9 * MiB, 8 * MiB, &initrd), -ENOSPC);
    assert_int_equal(bzimage_initrd_place(&info, &mem, 0, 32 * MiB, &initrd), -ENOSPC);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    long size;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)size))) {
        if (fread(data, 1, (size_t)size, f) != (size_t)size) {
            free(data);
            data = NULL;
        }
        *len = (size_t)size;
    }
    fclose(f);
    return data;
}

static void check_real_kernel(const char *path)
{
    static struct boot_params bp;
    struct bzimage_boot_args args = { .cmdline = LAYOUT_CMDLINE, .cmdline_len = 20 };
    struct bzimage_info info;
    size_t len = 0;
    uint8_t *data = read_file(path, &len);

    print_message("using %s\n", path);
    assert_non_null(data);
    assert_int_equal(bzimage_parse(data, len, &info), 0);
    assert_true(info.version >= 0x020C);
    assert_true(info.xloadflags & XLF_KERNEL_64);
    assert_true(info.loadflags & LOADED_HIGH);
    assert_true(info.relocatable);
    assert_true(info.kernel_alignment && !(info.kernel_alignment & (info.kernel_alignment - 1)));
    assert_true(info.init_size > info.pm_size);
    assert_true(info.cmdline_size >= 255);
    assert_int_equal(info.pm_offset + info.pm_size, len);
    assert_int_equal(bzimage_setup_zero_page(&info, &args, &bp), 0);
    assert_int_equal(bp.hdr.type_of_loader, 0xFF);
    assert_memory_equal(&bp.hdr.header, "HdrS", 4);
    free(data);
}

/* The Debian kernels this host boots guests with, when installed. */
static void test_debian_kernel(void **state)
{
    glob_t g;

    (void)state;
    if (glob("/boot/vmlinuz-*-amd64", 0, NULL, &g) != 0) {
        print_message("no /boot/vmlinuz-*-amd64 installed\n");
        skip();
    }
    for (size_t i = 0; i < g.gl_pathc; i++)
        check_real_kernel(g.gl_pathv[i]);
    globfree(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_old_protocol),
        cmocka_unit_test(test_missing_magic),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_setup_sects_zero),
        cmocka_unit_test(test_not_64bit),
        cmocka_unit_test(test_short_header),
        cmocka_unit_test(test_zero_page),
        cmocka_unit_test(test_zero_page_limits),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_debian_kernel),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
