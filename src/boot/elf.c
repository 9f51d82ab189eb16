#include "boot/elf.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#include "boot/layout.h"
#include "boot/pvh.h"

/* [off, off + size) lies inside a file of `len` bytes (overflow-safe). */
static bool elf_range_ok(uint64_t off, uint64_t size, size_t len)
{
    return off <= len && size <= len - off;
}

static uint64_t align_up(uint64_t v, uint64_t align)
{
    return (v + align - 1) & ~(align - 1);
}

static int elf_check_ehdr(const Elf64_Ehdr *eh)
{
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
        return -ENOEXEC;
    if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
        eh->e_machine != EM_X86_64 || eh->e_type != ET_EXEC)
        return -ENOTSUP;
    if (eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_phnum == 0 ||
        eh->e_phentsize != sizeof(Elf64_Phdr))
        return -ENOEXEC;
    return 0;
}

/* The PHYS32_ENTRY descriptor is an address of 4 or 8 bytes. */
static int elf_note_pvh(const uint8_t *desc, uint32_t descsz, struct elf_info *info)
{
    uint32_t v32;

    if (descsz == sizeof(uint32_t)) {
        memcpy(&v32, desc, sizeof(v32));
        info->pvh_entry = v32;
    } else if (descsz == sizeof(uint64_t)) {
        memcpy(&info->pvh_entry, desc, sizeof(info->pvh_entry));
    } else {
        return -ENOEXEC;
    }
    info->has_pvh = true;
    return 0;
}

static bool elf_note_is_pvh(const Elf64_Nhdr *nh, const uint8_t *name)
{
    return nh->n_type == XEN_ELFNOTE_PHYS32_ENTRY &&
           nh->n_namesz == sizeof(ELF_NOTE_XEN) &&
           memcmp(name, ELF_NOTE_XEN, sizeof(ELF_NOTE_XEN)) == 0;
}

/*
 * Walk the notes in p[0..size), each a header, then name and descriptor
 * padded to `align`.  Every length is checked against what is left.
 */
static int elf_scan_notes(const uint8_t *p, uint64_t size, uint64_t align,
                          struct elf_info *info)
{
    uint64_t pos = 0;

    align = align == 8 ? 8 : 4;
    while (size - pos >= sizeof(Elf64_Nhdr)) {
        const uint8_t *name, *desc;
        uint64_t name_space, desc_space;
        Elf64_Nhdr nh;
        int ret;

        memcpy(&nh, p + pos, sizeof(nh));
        pos += sizeof(nh);
        name_space = align_up(nh.n_namesz, align);
        if (name_space > size - pos)
            return -ENOEXEC;
        name = p + pos;
        pos += name_space;
        if (nh.n_descsz > size - pos)
            return -ENOEXEC;
        desc = p + pos;
        desc_space = align_up(nh.n_descsz, align);
        pos += desc_space < size - pos ? desc_space : size - pos;
        if (elf_note_is_pvh(&nh, name)) {
            ret = elf_note_pvh(desc, nh.n_descsz, info);
            if (ret)
                return ret;
        }
    }
    return 0;
}

static int elf_add_load(const Elf64_Phdr *ph, size_t len, struct elf_info *info)
{
    struct elf_segment *s;

    if (!elf_range_ok(ph->p_offset, ph->p_filesz, len) ||
        ph->p_filesz > ph->p_memsz || ph->p_memsz > UINT64_MAX - ph->p_paddr)
        return -ENOEXEC;
    if (ph->p_memsz == 0)
        return 0;
    if (info->nsegments == ELF_MAX_SEGMENTS)
        return -E2BIG;
    s = &info->segments[info->nsegments++];
    s->paddr = ph->p_paddr;
    s->offset = ph->p_offset;
    s->filesz = ph->p_filesz;
    s->memsz = ph->p_memsz;
    return 0;
}

static int elf_parse_phdrs(const uint8_t *img, size_t len, const Elf64_Ehdr *eh,
                           struct elf_info *info)
{
    uint64_t table = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
    int ret = 0;

    if (!elf_range_ok(eh->e_phoff, table, len))
        return -ENOEXEC;
    for (unsigned i = 0; !ret && i < eh->e_phnum; i++) {
        Elf64_Phdr ph;

        memcpy(&ph, img + eh->e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_type == PT_LOAD) {
            ret = elf_add_load(&ph, len, info);
        } else if (ph.p_type == PT_NOTE) {
            if (!elf_range_ok(ph.p_offset, ph.p_filesz, len))
                return -ENOEXEC;
            ret = elf_scan_notes(img + ph.p_offset, ph.p_filesz, ph.p_align, info);
        }
    }
    return ret;
}

/* Notes reached through section headers, for images whose PT_NOTE
 * segments do not carry them. */
static int elf_parse_note_sections(const uint8_t *img, size_t len,
                                   const Elf64_Ehdr *eh, struct elf_info *info)
{
    uint64_t table = (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr);
    int ret = 0;

    if (eh->e_shoff == 0 || eh->e_shnum == 0)
        return 0;
    if (eh->e_shentsize != sizeof(Elf64_Shdr) || !elf_range_ok(eh->e_shoff, table, len))
        return -ENOEXEC;
    for (unsigned i = 0; !ret && i < eh->e_shnum; i++) {
        Elf64_Shdr sh;

        memcpy(&sh, img + eh->e_shoff + i * sizeof(sh), sizeof(sh));
        if (sh.sh_type != SHT_NOTE)
            continue;
        if (!elf_range_ok(sh.sh_offset, sh.sh_size, len))
            return -ENOEXEC;
        ret = elf_scan_notes(img + sh.sh_offset, sh.sh_size, sh.sh_addralign, info);
    }
    return ret;
}

int elf_parse(const uint8_t *img, size_t len, struct elf_info *info)
{
    Elf64_Ehdr eh;
    int ret;

    memset(info, 0, sizeof(*info));
    if (len < sizeof(eh))
        return -ENOEXEC;
    memcpy(&eh, img, sizeof(eh));
    ret = elf_check_ehdr(&eh);
    if (ret)
        return ret;
    info->entry = eh.e_entry;
    ret = elf_parse_phdrs(img, len, &eh, info);
    if (!ret && !info->has_pvh)
        ret = elf_parse_note_sections(img, len, &eh, info);
    return ret;
}

int elf_load(const struct elf_info *info, const uint8_t *img,
             const struct guest_mem *mem)
{
    for (unsigned i = 0; i < info->nsegments; i++) {
        const struct elf_segment *s = &info->segments[i];

        if (!guest_mem_is_ram(mem, s->paddr, s->memsz))
            return -EFAULT;
    }
    for (unsigned i = 0; i < info->nsegments; i++) {
        const struct elf_segment *s = &info->segments[i];
        uint8_t *dst = guest_mem_ptr(mem, s->paddr, s->memsz);
        int ret = guest_mem_write(mem, s->paddr, img + s->offset, s->filesz);

        if (ret)
            return ret;
        memset(dst + s->filesz, 0, s->memsz - s->filesz);
    }
    return 0;
}

/* ---- PVH start of day ---- */

static void pvh_fill_memmap(uint8_t *dst, const struct boot_e820_entry *e820,
                            unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct hvm_memmap_table_entry m = {
            .addr = e820[i].addr,
            .size = e820[i].size,
            .type = e820[i].type,
        };
        memcpy(dst + i * sizeof(m), &m, sizeof(m));
    }
}

int pvh_build_start_info(const struct guest_mem *mem,
                         const struct pvh_boot_args *args, gpa_t *start_info)
{
    const gpa_t base = LAYOUT_PVH_START;
    uint8_t area[PVH_AREA_SIZE];
    struct hvm_start_info si = {
        .magic = HVM_START_MAGIC,
        .version = HVM_START_VERSION,
        .cmdline_paddr = args->cmdline,
        .rsdp_paddr = args->rsdp,
        .memmap_paddr = base + PVH_MEMMAP_OFFSET,
        .memmap_entries = args->e820_count,
    };
    struct hvm_modlist_entry mod = {
        .paddr = args->initrd,
        .size = args->initrd_size,
    };
    int ret;

    if (args->e820_count > PVH_MAX_MEMMAP)
        return -E2BIG;
    memset(area, 0, sizeof(area));
    if (args->initrd_size) {
        si.nr_modules = 1;
        si.modlist_paddr = base + PVH_MODLIST_OFFSET;
        memcpy(area + PVH_MODLIST_OFFSET, &mod, sizeof(mod));
    }
    pvh_fill_memmap(area + PVH_MEMMAP_OFFSET, args->e820, args->e820_count);
    memcpy(area, &si, sizeof(si));
    ret = guest_mem_write(mem, base, area, sizeof(area));
    if (ret)
        return ret;
    *start_info = base;
    return 0;
}
