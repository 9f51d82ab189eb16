#include "boot/bzimage.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#define BOOT_FLAG_OFFSET   0x1FE
#define JUMP_OFFSET        0x200     /* 2-byte jump; its 2nd byte sizes the header */
#define MAGIC_OFFSET       0x202
#define BOOT_FLAG          0xAA55
#define SECTOR             512
#define DEFAULT_SETUP_SECTS 4
#define XLF_MIN_VERSION    0x020C    /* xloadflags appear in 2.12 */
#define RSDP_MIN_VERSION   0x020E    /* acpi_rsdp_addr appears in 2.14 */
#define PAGE_SIZE_4K       4096ULL

#define HDR_END(field) \
    (offsetof(struct setup_header, field) + sizeof(((struct setup_header *)0)->field))

_Static_assert(offsetof(struct boot_params, hdr) == BZIMAGE_HDR_OFFSET,
               "setup header sits at 0x1F1 in the zero page");
_Static_assert(sizeof(struct boot_params) == 4096, "zero page is one page");
_Static_assert(offsetof(struct boot_params, acpi_rsdp_addr) == 0x070, "rsdp");
_Static_assert(offsetof(struct boot_params, e820_table) == 0x2D0, "e820");
_Static_assert(offsetof(struct setup_header, xloadflags) == 0x236 - BZIMAGE_HDR_OFFSET,
               "xloadflags");
_Static_assert(offsetof(struct setup_header, init_size) == 0x260 - BZIMAGE_HDR_OFFSET,
               "init_size");

static uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* The setup header is sized by the jump at 0x200: it ends at 0x202 + byte
 * 0x201.  Copy what this kvmm knows of it; unknown tail fields stay zero. */
static int bzimage_copy_hdr(const uint8_t *img, size_t len, struct bzimage_info *info)
{
    size_t end = MAGIC_OFFSET + img[JUMP_OFFSET + 1];
    size_t hdr_len = end - BZIMAGE_HDR_OFFSET;

    if (end > len)
        return -ENOEXEC;
    if (hdr_len > sizeof(info->hdr))
        hdr_len = sizeof(info->hdr);
    memset(info->hdr, 0, sizeof(info->hdr));
    memcpy(info->hdr, img + BZIMAGE_HDR_OFFSET, hdr_len);
    info->hdr_len = hdr_len;
    return 0;
}

static int bzimage_check_features(const struct setup_header *sh)
{
    if (!(sh->loadflags & LOADED_HIGH))
        return -ENOTSUP;
    if (sh->version < XLF_MIN_VERSION || !(sh->xloadflags & XLF_KERNEL_64))
        return -ENOTSUP;
    return 0;
}

static void bzimage_fill(const struct setup_header *sh, size_t len,
                         struct bzimage_info *info)
{
    info->pm_offset = info->setup_size;
    info->pm_size = len - info->setup_size;
    info->init_size = sh->init_size;
    info->pref_address = sh->pref_address;
    info->kernel_alignment = sh->kernel_alignment;
    info->relocatable = sh->relocatable_kernel != 0;
    info->loadflags = sh->loadflags;
    info->xloadflags = sh->xloadflags;
    info->initrd_addr_max = sh->initrd_addr_max;
    info->cmdline_size = sh->cmdline_size;
}

int bzimage_parse(const uint8_t *img, size_t len, struct bzimage_info *info)
{
    struct setup_header sh;
    unsigned sects;
    int ret;

    memset(info, 0, sizeof(*info));
    if (len < MAGIC_OFFSET + 6)
        return -ENOEXEC;
    if (get_le16(img + BOOT_FLAG_OFFSET) != BOOT_FLAG ||
        memcmp(img + MAGIC_OFFSET, "HdrS", 4) != 0)
        return -ENOEXEC;
    info->version = get_le16(img + MAGIC_OFFSET + 4);
    if (info->version < BZIMAGE_MIN_VERSION)
        return -ENOTSUP;

    ret = bzimage_copy_hdr(img, len, info);
    if (ret)
        return ret;
    /* 2.12+ headers reach xloadflags and init_size (2.10) */
    if (info->version >= XLF_MIN_VERSION && info->hdr_len < HDR_END(init_size))
        return -ENOEXEC;
    memcpy(&sh, info->hdr, sizeof(sh));
    ret = bzimage_check_features(&sh);
    if (ret)
        return ret;

    sects = sh.setup_sects ? sh.setup_sects : DEFAULT_SETUP_SECTS;
    info->setup_size = (sects + 1) * SECTOR;
    if (info->setup_size >= len)
        return -ENOEXEC;
    bzimage_fill(&sh, len, info);
    return 0;
}

int bzimage_load(const struct bzimage_info *info, const uint8_t *img,
                 const struct guest_mem *mem, gpa_t addr)
{
    uint64_t span = info->init_size > info->pm_size ? info->init_size : info->pm_size;

    if (!guest_mem_is_ram(mem, addr, span))
        return -EFAULT;
    return guest_mem_write(mem, addr, img + info->pm_offset, info->pm_size);
}

int bzimage_initrd_place(const struct bzimage_info *info,
                         const struct guest_mem *mem, gpa_t min_addr,
                         uint64_t size, gpa_t *out)
{
    uint64_t top = guest_mem_low_top(mem);
    uint64_t start;

    if ((uint64_t)info->initrd_addr_max + 1 < top)
        top = (uint64_t)info->initrd_addr_max + 1;
    if (size > top)
        return -ENOSPC;
    start = (top - size) & ~(PAGE_SIZE_4K - 1);
    if (start < min_addr)
        return -ENOSPC;
    *out = start;
    return 0;
}

static int zero_page_set_cmdline(const struct bzimage_info *info,
                                 const struct bzimage_boot_args *args,
                                 struct boot_params *bp)
{
    if (!args->cmdline)
        return 0;
    if (args->cmdline_len > info->cmdline_size)
        return -E2BIG;
    bp->hdr.cmd_line_ptr = (uint32_t)args->cmdline;
    bp->ext_cmd_line_ptr = (uint32_t)(args->cmdline >> 32);
    return 0;
}

static int zero_page_set_initrd(const struct bzimage_info *info,
                                const struct bzimage_boot_args *args,
                                struct boot_params *bp)
{
    uint64_t last;

    if (!args->initrd_size)
        return 0;
    if (args->initrd_size - 1 > UINT64_MAX - args->initrd)
        return -ERANGE;
    last = args->initrd + args->initrd_size - 1;
    if (!(info->xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G) &&
        last > info->initrd_addr_max)
        return -ERANGE;
    bp->hdr.ramdisk_image = (uint32_t)args->initrd;
    bp->ext_ramdisk_image = (uint32_t)(args->initrd >> 32);
    bp->hdr.ramdisk_size = (uint32_t)args->initrd_size;
    bp->ext_ramdisk_size = (uint32_t)(args->initrd_size >> 32);
    return 0;
}

int bzimage_setup_zero_page(const struct bzimage_info *info,
                            const struct bzimage_boot_args *args,
                            struct boot_params *bp)
{
    int ret;

    if (args->e820_count > E820_MAX_ENTRIES_ZEROPAGE)
        return -E2BIG;
    memset(bp, 0, sizeof(*bp));
    memcpy(&bp->hdr, info->hdr, info->hdr_len);
    bp->hdr.type_of_loader = BZIMAGE_LOADER_TYPE;
    bp->hdr.loadflags = (uint8_t)(info->loadflags | CAN_USE_HEAP);
    bp->hdr.heap_end_ptr = BZIMAGE_HEAP_END;
    ret = zero_page_set_cmdline(info, args, bp);
    if (!ret)
        ret = zero_page_set_initrd(info, args, bp);
    if (ret)
        return ret;
    if (args->e820_count)
        memcpy(bp->e820_table, args->e820, args->e820_count * sizeof(*args->e820));
    bp->e820_entries = (uint8_t)args->e820_count;
    if (info->version >= RSDP_MIN_VERSION)
        bp->acpi_rsdp_addr = args->rsdp;
    return 0;
}
