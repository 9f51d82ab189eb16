/* Unit tests for ELF parsing and loading, PVH notes and hvm_start_info. */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot/elf.h"
#include "boot/layout.h"
#include "boot/pvh.h"

#define DATA_OFF   0x800        /* segment and note bytes start here */
#define SEG0_OFF   DATA_OFF
#define SEG0_SIZE  0x100
#define SEG0_ADDR  0x100000
#define SEG1_OFF   (DATA_OFF + 0x100)
#define SEG1_FILE  0x80
#define SEG1_MEM   0x1000
#define SEG1_ADDR  0x200000
#define NOTE_OFF   (DATA_OFF + 0x200)
#define ENTRY      0x1000200
#define PVH_ENTRY  0x1000123

static _Alignas(8) uint8_t img[8192];
static size_t img_len;

static void put_ehdr(unsigned phnum)
{
    Elf64_Ehdr eh;

    memset(&eh, 0, sizeof(eh));
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_entry = ENTRY;
    eh.e_phoff = sizeof(eh);
    eh.e_ehsize = sizeof(eh);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = (uint16_t)phnum;
    memcpy(img, &eh, sizeof(eh));
}

static Elf64_Ehdr *ehdr(void)
{
    return (Elf64_Ehdr *)img;
}

static Elf64_Phdr *phdr(unsigned i)
{
    return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)) + i;
}

static void put_phdr(unsigned i, uint32_t type, uint64_t off, uint64_t filesz,
                     uint64_t memsz, uint64_t paddr)
{
    Elf64_Phdr ph = {
        .p_type = type,
        .p_offset = off,
        .p_filesz = filesz,
        .p_memsz = memsz,
        .p_paddr = paddr,
        .p_vaddr = paddr + 0xFFFFFFFF80000000ULL,
        .p_align = type == PT_NOTE ? 4 : 0x200000,
    };
    memcpy(phdr(i), &ph, sizeof(ph));
}

/* Append a note at img_len, padded to `align`. */
static void put_note(const char *name, uint32_t type, const void *desc,
                     uint32_t descsz, unsigned align)
{
    Elf64_Nhdr nh = {
        .n_namesz = (uint32_t)strlen(name) + 1,
        .n_descsz = descsz,
        .n_type = type,
    };

    memcpy(img + img_len, &nh, sizeof(nh));
    img_len += sizeof(nh);
    memcpy(img + img_len, name, nh.n_namesz);
    img_len += (nh.n_namesz + align - 1) & ~(align - 1);
    memcpy(img + img_len, desc, descsz);
    img_len += (descsz + align - 1) & ~(align - 1);
}

/* Two loadable segments and a note segment: a GNU build id, then the
 * PVH entry with a descriptor of `pvh_size` bytes (0: no PVH note). */
static void make_elf(unsigned pvh_size, uint64_t pvh_entry)
{
    static const uint8_t build_id[20] = { 1, 2, 3 };

    memset(img, 0, sizeof(img));
    put_ehdr(3);
    for (unsigned i = 0; i < SEG0_SIZE + SEG1_FILE; i++)
        img[SEG0_OFF + i] = (uint8_t)(i + 1);
    img_len = NOTE_OFF;
    put_note("GNU", NT_GNU_BUILD_ID, build_id, sizeof(build_id), 4);
    if (pvh_size)
        put_note("Xen", XEN_ELFNOTE_PHYS32_ENTRY, &pvh_entry, pvh_size, 4);
    put_phdr(0, PT_LOAD, SEG0_OFF, SEG0_SIZE, SEG0_SIZE, SEG0_ADDR);
    put_phdr(1, PT_LOAD, SEG1_OFF, SEG1_FILE, SEG1_MEM, SEG1_ADDR);
    put_phdr(2, PT_NOTE, NOTE_OFF, img_len - NOTE_OFF, 0, 0);
}

static int parse(struct elf_info *info)
{
    return elf_parse(img, img_len, info);
}

static void test_good(void **state)
{
    struct elf_info info;

    (void)state;
    make_elf(4, PVH_ENTRY);
    assert_int_equal(parse(&info), 0);
    assert_int_equal(info.entry, ENTRY);
    assert_int_equal(info.nsegments, 2);
    assert_int_equal(info.segments[0].paddr, SEG0_ADDR);
    assert_int_equal(info.segments[0].offset, SEG0_OFF);
    assert_int_equal(info.segments[0].filesz, SEG0_SIZE);
    assert_int_equal(info.segments[0].memsz, SEG0_SIZE);
    assert_int_equal(info.segments[1].paddr, SEG1_ADDR);
    assert_int_equal(info.segments[1].filesz, SEG1_FILE);
    assert_int_equal(info.segments[1].memsz, SEG1_MEM);
    assert_true(info.has_pvh);
    assert_int_equal(info.pvh_entry, PVH_ENTRY);
}

static void test_pvh_64bit_desc(void **state)
{
    struct elf_info info;

    (void)state;
    make_elf(8, 0x100001000ULL);
    assert_int_equal(parse(&info), 0);
    assert_true(info.has_pvh);
    assert_int_equal(info.pvh_entry, 0x100001000ULL);
}

static void test_pvh_bad_desc(void **state)
{
    struct elf_info info;

    (void)state;
    make_elf(2, PVH_ENTRY);
    assert_int_equal(parse(&info), -ENOEXEC);
}

static void test_no_pvh(void **state)
{
    struct elf_info info;

    (void)state;
    make_elf(0, 0);
    assert_int_equal(parse(&info), 0);
    assert_false(info.has_pvh);
    /* same type, other owner: not a PVH note */
    img_len = NOTE_OFF;
    put_note("Xe", XEN_ELFNOTE_PHYS32_ENTRY, "\x23\x01\x00\x01", 4, 4);
    phdr(2)->p_filesz = img_len - NOTE_OFF;
    assert_int_equal(parse(&info), 0);
    assert_false(info.has_pvh);
}

/* 8-byte aligned note segments pad name and descriptor to 8. */
static void test_pvh_align8(void **state)
{
    uint64_t entry = PVH_ENTRY;
    struct elf_info info;

    (void)state;
    make_elf(0, 0);
    img_len = NOTE_OFF;
    put_note("GNU", 5, "\x01\x02\x03\x04\x05", 5, 8);
    put_note("Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry, 8, 8);
    phdr(2)->p_filesz = img_len - NOTE_OFF;
    phdr(2)->p_align = 8;
    assert_int_equal(parse(&info), 0);
    assert_true(info.has_pvh);
    assert_int_equal(info.pvh_entry, PVH_ENTRY);
}

/* The note reached only through a SHT_NOTE section header. */
static void test_pvh_section(void **state)
{
    Elf64_Shdr sh[2];
    struct elf_info info;
    size_t notes_end;

    (void)state;
    make_elf(4, PVH_ENTRY);
    notes_end = img_len;
    phdr(2)->p_type = PT_NULL;
    memset(sh, 0, sizeof(sh));
    sh[1].sh_type = SHT_NOTE;
    sh[1].sh_offset = NOTE_OFF;
    sh[1].sh_size = notes_end - NOTE_OFF;
    sh[1].sh_addralign = 4;
    img_len = (notes_end + 7) & ~(size_t)7;
    memcpy(img + img_len, sh, sizeof(sh));
    ehdr()->e_shoff = img_len;
    ehdr()->e_shnum = 2;
    ehdr()->e_shentsize = sizeof(Elf64_Shdr);
    img_len += sizeof(sh);
    assert_int_equal(parse(&info), 0);
    assert_true(info.has_pvh);
    assert_int_equal(info.pvh_entry, PVH_ENTRY);

    sh[1].sh_size = 0x10000;                 /* section beyond the file */
    memcpy(img + ehdr()->e_shoff, sh, sizeof(sh));
    assert_int_equal(parse(&info), -ENOEXEC);
    ehdr()->e_shoff = UINT64_MAX - 8;        /* table offset overflows */
    assert_int_equal(parse(&info), -ENOEXEC);
}

/* Every prefix of the image is rejected, and exact-size copies let the
 * sanitizer see any read past the end. */
static void test_truncated(void **state)
{
    struct elf_info info;

    (void)state;
    make_elf(4, PVH_ENTRY);
    for (size_t len = 0; len < img_len; len++) {
        uint8_t *copy = malloc(len ? len : 1);

        assert_non_null(copy);
        memcpy(copy, img, len);
        assert_int_equal(elf_parse(copy, len, &info), -ENOEXEC);
        free(copy);
    }
}

static void test_phdr_table(void **state)
{
    struct elf_info info;

    (void)state;
    make_elf(4, PVH_ENTRY);
    ehdr()->e_phnum = 60;                    /* table runs past the end */
    img_len = DATA_OFF;
    assert_int_equal(parse(&info), -ENOEXEC);
    make_elf(4, PVH_ENTRY);
    ehdr()->e_phoff = UINT64_MAX - 8;
    assert_int_equal(parse(&info), -ENOEXEC);
}

static void test_segment_beyond_file(void **state)
{
    struct elf_info info;

    (void)state;
    make_elf(4, PVH_ENTRY);
    phdr(1)->p_offset = img_len - 4;
    assert_int_equal(parse(&info), -ENOEXEC);
    make_elf(4, PVH_ENTRY);
    phdr(0)->p_filesz = img_len;
    phdr(0)->p_memsz = img_len;
    assert_int_equal(parse(&info), -ENOEXEC);
}

static void test_overflow(void **state)
{
    struct elf_info info;

    (void)state;
    make_elf(4, PVH_ENTRY);
    phdr(0)->p_filesz = UINT64_MAX;          /* offset + size wraps */
    phdr(0)->p_memsz = UINT64_MAX;
    assert_int_equal(parse(&info), -ENOEXEC);
    make_elf(4, PVH_ENTRY);
    phdr(0)->p_offset = UINT64_MAX - 1;
    assert_int_equal(parse(&info), -ENOEXEC);
    make_elf(4, PVH_ENTRY);
    phdr(1)->p_paddr = UINT64_MAX - 0x10;    /* paddr + memsz wraps */
    assert_int_equal(parse(&info), -ENOEXEC);
    make_elf(4, PVH_ENTRY);
    phdr(1)->p_memsz = SEG1_FILE - 1;        /* filesz > memsz */
    assert_int_equal(parse(&info), -ENOEXEC);
    make_elf(4, PVH_ENTRY);
    phdr(2)->p_filesz = UINT64_MAX;          /* note segment wraps */
    assert_int_equal(parse(&info), -ENOEXEC);
}

static void set_first_note(uint32_t namesz, uint32_t descsz)
{
    Elf64_Nhdr nh;

    memcpy(&nh, img + NOTE_OFF, sizeof(nh));
    nh.n_namesz = namesz;
    nh.n_descsz = descsz;
    memcpy(img + NOTE_OFF, &nh, sizeof(nh));
}

static void test_hostile_notes(void **state)
{
    static const uint32_t sizes[][2] = {
        { 0xFFFFFFFF, 20 }, { 4, 0xFFFFFFFF }, { 0xFFFFFFFD, 0xFFFFFFFF },
        { 4, 0x1000 }, { 0x1000, 0 },
    };
    struct elf_info info;

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        uint8_t *copy;

        make_elf(4, PVH_ENTRY);
        set_first_note(sizes[i][0], sizes[i][1]);
        copy = malloc(img_len);
        assert_non_null(copy);
        memcpy(copy, img, img_len);
        assert_int_equal(elf_parse(copy, img_len, &info), -ENOEXEC);
        free(copy);
    }
    /* a note segment shorter than its last note */
    make_elf(4, PVH_ENTRY);
    phdr(2)->p_filesz -= 2;
    assert_int_equal(parse(&info), -ENOEXEC);
}

static void test_bad_header(void **state)
{
    struct elf_info info;

    (void)state;
    make_elf(4, PVH_ENTRY);
    img[0] = 0;
    assert_int_equal(parse(&info), -ENOEXEC);
    make_elf(4, PVH_ENTRY);
    img[EI_CLASS] = ELFCLASS32;
    assert_int_equal(parse(&info), -ENOTSUP);
    make_elf(4, PVH_ENTRY);
    img[EI_DATA] = ELFDATA2MSB;
    assert_int_equal(parse(&info), -ENOTSUP);
    make_elf(4, PVH_ENTRY);
    ehdr()->e_machine = EM_386;
    assert_int_equal(parse(&info), -ENOTSUP);
    make_elf(4, PVH_ENTRY);
    ehdr()->e_type = ET_DYN;
    assert_int_equal(parse(&info), -ENOTSUP);
    make_elf(4, PVH_ENTRY);
    ehdr()->e_phentsize = 32;
    assert_int_equal(parse(&info), -ENOEXEC);
    make_elf(4, PVH_ENTRY);
    ehdr()->e_phnum = 0;
    assert_int_equal(parse(&info), -ENOEXEC);
}

static void test_too_many_segments(void **state)
{
    const unsigned n = ELF_MAX_SEGMENTS + 1;
    struct elf_info info;

    (void)state;
    memset(img, 0, sizeof(img));
    put_ehdr(n);
    for (unsigned i = 0; i < n; i++)
        put_phdr(i, PT_LOAD, DATA_OFF, 0x10, 0x10, SEG0_ADDR + i * 0x1000);
    img_len = DATA_OFF + 0x10;
    assert_int_equal(parse(&info), -E2BIG);
    ehdr()->e_phnum = (uint16_t)(n - 1);
    assert_int_equal(parse(&info), 0);
    assert_int_equal(info.nsegments, ELF_MAX_SEGMENTS);
}

static uint8_t ram[4 * MiB];

static void test_load(void **state)
{
    struct guest_mem mem;
    struct elf_info info;

    (void)state;
    make_elf(4, PVH_ENTRY);
    assert_int_equal(parse(&info), 0);
    memset(ram, 0xCC, sizeof(ram));
    guest_mem_init_fake(&mem, ram, sizeof(ram));
    assert_int_equal(elf_load(&info, img, &mem), 0);
    assert_memory_equal(ram + SEG0_ADDR, img + SEG0_OFF, SEG0_SIZE);
    assert_int_equal(ram[SEG0_ADDR + SEG0_SIZE], 0xCC);
    assert_memory_equal(ram + SEG1_ADDR, img + SEG1_OFF, SEG1_FILE);
    for (size_t i = SEG1_FILE; i < SEG1_MEM; i++)
        assert_int_equal(ram[SEG1_ADDR + i], 0);
    assert_int_equal(ram[SEG1_ADDR + SEG1_MEM], 0xCC);
}

static void test_load_outside_ram(void **state)
{
    struct guest_mem mem;
    struct elf_info info;

    (void)state;
    make_elf(4, PVH_ENTRY);
    phdr(1)->p_paddr = sizeof(ram) - SEG1_MEM / 2;   /* straddles the end */
    assert_int_equal(parse(&info), 0);
    memset(ram, 0xCC, sizeof(ram));
    guest_mem_init_fake(&mem, ram, sizeof(ram));
    assert_int_equal(elf_load(&info, img, &mem), -EFAULT);
    assert_int_equal(ram[SEG0_ADDR], 0xCC);          /* nothing written */
    phdr(1)->p_paddr = LAYOUT_PCI_HOLE;
    assert_int_equal(parse(&info), 0);
    assert_int_equal(elf_load(&info, img, &mem), -EFAULT);
}

static void test_pvh_start_info(void **state)
{
    static const struct boot_e820_entry e820[] = {
        { 0, 0x9FC00, E820_TYPE_RAM },
        { 0x9FC00, 0x60400, E820_TYPE_RESERVED },
        { 0x100000, 0x300000, E820_TYPE_RAM },
    };
    struct pvh_boot_args args = {
        .cmdline = LAYOUT_CMDLINE,
        .initrd = 0x200000,
        .initrd_size = 0x1234,
        .rsdp = LAYOUT_ACPI,
        .e820 = e820,
        .e820_count = ARRAY_SIZE(e820),
    };
    struct hvm_memmap_table_entry m;
    struct hvm_modlist_entry mod;
    struct hvm_start_info si;
    struct guest_mem mem;
    gpa_t at = 0;

    (void)state;
    guest_mem_init_fake(&mem, ram, sizeof(ram));
    assert_int_equal(pvh_build_start_info(&mem, &args, &at), 0);
    assert_int_equal(at, LAYOUT_PVH_START);
    memcpy(&si, ram + at, sizeof(si));
    assert_int_equal(si.magic, HVM_START_MAGIC);
    assert_int_equal(si.version, 1);
    assert_int_equal(si.cmdline_paddr, LAYOUT_CMDLINE);
    assert_int_equal(si.rsdp_paddr, LAYOUT_ACPI);
    assert_int_equal(si.nr_modules, 1);
    memcpy(&mod, ram + si.modlist_paddr, sizeof(mod));
    assert_int_equal(mod.paddr, 0x200000);
    assert_int_equal(mod.size, 0x1234);
    assert_int_equal(si.memmap_entries, ARRAY_SIZE(e820));
    assert_true(si.memmap_paddr + 3 * sizeof(m) <= LAYOUT_ZERO_PAGE);
    for (unsigned i = 0; i < ARRAY_SIZE(e820); i++) {
        memcpy(&m, ram + si.memmap_paddr + i * sizeof(m), sizeof(m));
        assert_int_equal(m.addr, e820[i].addr);
        assert_int_equal(m.size, e820[i].size);
        assert_int_equal(m.type, e820[i].type);
        assert_int_equal(m.reserved, 0);
    }

    args.initrd_size = 0;
    assert_int_equal(pvh_build_start_info(&mem, &args, &at), 0);
    memcpy(&si, ram + at, sizeof(si));
    assert_int_equal(si.nr_modules, 0);
    assert_int_equal(si.modlist_paddr, 0);
}

static void test_pvh_start_info_limits(void **state)
{
    static struct boot_e820_entry many[PVH_MAX_MEMMAP + 1];
    struct pvh_boot_args args = { .e820 = many, .e820_count = ARRAY_SIZE(many) };
    struct guest_mem mem;
    gpa_t at;

    (void)state;
    guest_mem_init_fake(&mem, ram, sizeof(ram));
    assert_int_equal(pvh_build_start_info(&mem, &args, &at), -E2BIG);
    args.e820_count = PVH_MAX_MEMMAP;
    assert_int_equal(pvh_build_start_info(&mem, &args, &at), 0);
    guest_mem_init_fake(&mem, ram, LAYOUT_PVH_START);   /* area not in RAM */
    assert_int_equal(pvh_build_start_info(&mem, &args, &at), -EFAULT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_pvh_64bit_desc),
        cmocka_unit_test(test_pvh_bad_desc),
        cmocka_unit_test(test_no_pvh),
        cmocka_unit_test(test_pvh_align8),
        cmocka_unit_test(test_pvh_section),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_phdr_table),
        cmocka_unit_test(test_segment_beyond_file),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_hostile_notes),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_too_many_segments),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_load_outside_ram),
        cmocka_unit_test(test_pvh_start_info),
        cmocka_unit_test(test_pvh_start_info_limits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
