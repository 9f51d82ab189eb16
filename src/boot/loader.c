#include "boot/loader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libfdt.h>

#include "boot/acpi.h"
#include "boot/bzimage.h"
#include "boot/e820.h"
#include "boot/elf.h"
#include "boot/fdt.h"
#include "boot/layout.h"
#include "boot/pvh.h"
#include "kvm.h"
#include "mem/guest_mem.h"
#include "spec.h"
#include "vcpu/vcpu.h"
#include "vm.h"

struct image {
    const uint8_t *data;
    size_t len;
};

_Static_assert(SPEC_CMDLINE_MAX < LAYOUT_CMDLINE_MAX,
               "a command line the spec accepts fits its area with the NUL");

/* O_NONBLOCK: a FIFO in place of a kernel must not hang kvmm. */
static int image_map(const char *path, struct image *img)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    int ret = 0;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        ret = -errno;
        goto out_close;
    }
    img->len = st.st_size;
    img->data = img->len ? mmap(NULL, img->len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    if (img->data == MAP_FAILED) {
        img->data = NULL;
        ret = -errno;
    }
out_close:
    close(fd);
    return ret;
}

static void image_unmap(struct image *img)
{
    if (img->data)
        munmap((void *)img->data, img->len);
    img->data = NULL;
}

enum kernel_kind boot_detect_kind(const uint8_t *img, size_t len)
{
    struct elf_info elf;

    if (len >= 0x206 && !memcmp(img + 0x202, "HdrS", 4))
        return KERNEL_BZIMAGE;
    if (len >= 4 && !memcmp(img, "\177ELF", 4)) {
        if (elf_parse(img, len, &elf))
            return KERNEL_UNKNOWN;
        return elf.has_pvh ? KERNEL_ELF_PVH : KERNEL_ELF_PAYLOAD;
    }
    return KERNEL_UNKNOWN;
}

/* Identity map of the first 4 GiB with 2 MiB pages, and a flat GDT. */
static int boot_write_cpu_tables(const struct guest_mem *mem)
{
    static const uint64_t gdt[4] = {
        0, 0,
        0x00af9b000000ffffULL,  /* 0x10: 64-bit code */
        0x00cf93000000ffffULL,  /* 0x18: data */
    };
    uint64_t *pml4 = guest_mem_ptr(mem, LAYOUT_PML4, 4096);
    uint64_t *pdpt = guest_mem_ptr(mem, LAYOUT_PDPT, 4096);
    uint64_t *pd = guest_mem_ptr(mem, LAYOUT_PD, 4 * 4096);

    if (!pml4 || !pdpt || !pd)
        return -EFAULT;
    memset(pml4, 0, 4096);
    memset(pdpt, 0, 4096);
    pml4[0] = LAYOUT_PDPT | 0x3;                         /* present, writable */
    for (uint64_t i = 0; i < 4; i++)
        pdpt[i] = (LAYOUT_PD + i * 4096) | 0x3;
    for (uint64_t i = 0; i < 4 * 512; i++)
        pd[i] = (i << 21) | 0x83;                        /* 2 MiB page */
    return guest_mem_write(mem, LAYOUT_GDT, gdt, sizeof(gdt));
}

static int boot_write_acpi(struct vm *vm, gpa_t *rsdp)
{
    struct acpi_config cfg = { .ncpus = vm_ncpus(vm), .ecam = true };
    uint8_t *buf = guest_mem_ptr(vm_mem(vm), LAYOUT_ACPI, LAYOUT_ACPI_MAX);

    if (!buf)
        return -EFAULT;
    return acpi_build(&cfg, buf, LAYOUT_ACPI_MAX, LAYOUT_ACPI, rsdp);
}

static int boot_write_fdt(struct vm *vm, char *err, size_t errlen)
{
    const struct vm_spec *spec = vm_spec(vm);
    struct fdt_config cfg = {
        .cmdline = spec->cmdline, .ncpus = vm_ncpus(vm), .mem = vm_mem(vm),
        .params = spec->params, .nparams = spec->nparams,
    };
    void *buf = guest_mem_ptr(vm_mem(vm), LAYOUT_FDT, LAYOUT_FDT_MAX);
    int ret;

    if (!buf)
        return -EFAULT;
    ret = fdt_build(buf, LAYOUT_FDT_MAX, &cfg);
    if (ret) {
        snprintf(err, errlen, "device tree: %s", strerror(-ret));
        return ret;
    }
    if (spec->dump_dtb) {
        ret = fdt_write_file(buf, spec->dump_dtb);
        if (ret)
            snprintf(err, errlen, "cannot write the device tree to %s: %s", spec->dump_dtb,
                     strerror(-ret));
    }
    return ret;
}

static int boot_write_cmdline(struct vm *vm, uint32_t max, uint32_t *len_out,
                              char *err, size_t errlen)
{
    const char *cmdline = vm_spec(vm)->cmdline ? vm_spec(vm)->cmdline : "";
    size_t len = strlen(cmdline);

    if (len > max || len >= LAYOUT_CMDLINE_MAX) {
        snprintf(err, errlen, "cmdline: %zu bytes, the kernel accepts at most %u", len, max);
        return -E2BIG;
    }
    *len_out = len;
    return guest_mem_write(vm_mem(vm), LAYOUT_CMDLINE, cmdline, len + 1);
}

/* Load the initrd high in low memory, under max_addr. */
static int boot_load_initrd(struct vm *vm, uint64_t max_addr, gpa_t min_addr,
                            gpa_t *addr, uint64_t *size, char *err, size_t errlen)
{
    const char *path = vm_spec(vm)->initrd;
    struct image img;
    uint64_t top = guest_mem_low_top(vm_mem(vm));
    int ret;

    *addr = 0;
    *size = 0;
    if (!path)
        return 0;
    ret = image_map(path, &img);
    if (ret) {
        snprintf(err, errlen, "initrd %s: %s", path, strerror(-ret));
        return ret;
    }
    if (max_addr + 1 < top)
        top = max_addr + 1;
    *addr = (top - img.len) & ~0xfffULL;
    if (img.len > top || *addr < min_addr) {
        snprintf(err, errlen, "initrd %s (%zu bytes) does not fit in guest memory; "
                 "give the VM more memory", path, img.len);
        ret = -ENOSPC;
    } else {
        ret = guest_mem_write(vm_mem(vm), *addr, img.data, img.len);
        *size = img.len;
    }
    image_unmap(&img);
    return ret;
}

/* Hand the device tree to the kernel as setup_data (SETUP_DTB); kernels
 * built without device-tree support skip it. */
static int boot_link_dtb(struct vm *vm, const struct bzimage_info *info, struct boot_params *bp)
{
    const struct fdt_header *fdt = guest_mem_ptr(vm_mem(vm), LAYOUT_FDT, sizeof(*fdt));
    struct setup_data sd = { .next = 0, .type = SETUP_DTB };

    _Static_assert(LAYOUT_SETUP_DTB + sizeof(struct setup_data) == LAYOUT_FDT,
                   "setup_data header must sit right before the FDT");
    if (info->version < 0x0209 || !fdt)
        return 0;
    sd.len = fdt_totalsize(fdt);
    bp->hdr.setup_data = LAYOUT_SETUP_DTB;
    return guest_mem_write(vm_mem(vm), LAYOUT_SETUP_DTB, &sd, sizeof(sd));
}

static int boot_bzimage(struct vm *vm, const struct image *k, gpa_t rsdp, char *err, size_t errlen)
{
    const struct vm_spec *spec = vm_spec(vm);
    struct bzimage_boot_args args = { .rsdp = rsdp };
    struct boot_e820_entry e820[E820_MAX_BUILT];
    struct bzimage_info info;
    struct boot_params *bp;
    int ret = bzimage_parse(k->data, k->len, &info);

    if (ret == -ENOTSUP) {
        snprintf(err, errlen, "kernel %s: boot protocol %u.%02u without a 64-bit entry point "
                 "(kvmm needs protocol 2.06+ and a 64-bit kernel)", spec->kernel,
                 info.version >> 8, info.version & 0xff);
        return ret;
    }
    if (ret) {
        snprintf(err, errlen, "kernel %s: damaged bzImage header", spec->kernel);
        return ret;
    }
    ret = bzimage_load(&info, k->data, vm_mem(vm), LAYOUT_KERNEL);
    if (ret) {
        snprintf(err, errlen, "kernel %s needs %u bytes of memory: give the VM more",
                 spec->kernel, info.init_size);
        return ret;
    }
    ret = boot_write_cmdline(vm, info.cmdline_size, &args.cmdline_len, err, errlen);
    if (ret)
        return ret;
    args.cmdline = LAYOUT_CMDLINE;
    ret = boot_load_initrd(vm, info.initrd_addr_max, LAYOUT_KERNEL + info.init_size,
                           &args.initrd, &args.initrd_size, err, errlen);
    if (ret)
        return ret;
    ret = e820_build(vm_mem(vm), e820, E820_MAX_BUILT, &args.e820_count);
    if (ret)
        return ret;
    args.e820 = e820;
    bp = guest_mem_ptr(vm_mem(vm), LAYOUT_ZERO_PAGE, sizeof(*bp));
    if (!bp)
        return -EFAULT;
    ret = bzimage_setup_zero_page(&info, &args, bp);
    if (ret) {
        snprintf(err, errlen, "kernel %s: cannot build boot parameters: %s", spec->kernel,
                 strerror(-ret));
        return ret;
    }
    ret = boot_link_dtb(vm, &info, bp);
    if (ret)
        return ret;
    return vcpu_set_long_mode(vm_vcpu(vm, 0), LAYOUT_KERNEL + BZIMAGE_ENTRY64_OFFSET,
                              LAYOUT_ZERO_PAGE, 0, LAYOUT_STACK_TOP);
}

static int boot_elf_segments(struct vm *vm, const struct image *k, struct elf_info *info,
                             char *err, size_t errlen)
{
    int ret = elf_parse(k->data, k->len, info);

    if (ret) {
        snprintf(err, errlen, "kernel %s: damaged ELF file", vm_spec(vm)->kernel);
        return ret;
    }
    ret = elf_load(info, k->data, vm_mem(vm));
    if (ret)
        snprintf(err, errlen, "kernel %s: a segment lies outside guest RAM "
                 "(give the VM more memory)", vm_spec(vm)->kernel);
    return ret;
}

static int boot_pvh(struct vm *vm, const struct image *k, gpa_t rsdp, char *err, size_t errlen)
{
    struct pvh_boot_args args = { .rsdp = rsdp, .cmdline = LAYOUT_CMDLINE };
    struct boot_e820_entry e820[E820_MAX_BUILT];
    struct elf_info info;
    gpa_t start_info, kernel_end = 0;
    uint32_t cmdline_len;
    int ret = boot_elf_segments(vm, k, &info, err, errlen);

    if (ret)
        return ret;
    for (unsigned i = 0; i < info.nsegments; i++) {
        gpa_t end = info.segments[i].paddr + info.segments[i].memsz;

        kernel_end = end > kernel_end ? end : kernel_end;
    }
    ret = boot_write_cmdline(vm, LAYOUT_CMDLINE_MAX - 1, &cmdline_len, err, errlen);
    if (ret)
        return ret;
    ret = boot_load_initrd(vm, LAYOUT_PCI_HOLE - 1, kernel_end, &args.initrd,
                           &args.initrd_size, err, errlen);
    if (ret)
        return ret;
    ret = e820_build(vm_mem(vm), e820, E820_MAX_BUILT, &args.e820_count);
    if (ret)
        return ret;
    args.e820 = e820;
    ret = pvh_build_start_info(vm_mem(vm), &args, &start_info);
    if (ret) {
        snprintf(err, errlen, "cannot build the PVH start info: %s", strerror(-ret));
        return ret;
    }
    return vcpu_set_pvh_mode(vm_vcpu(vm, 0), (uint32_t)info.pvh_entry, (uint32_t)start_info);
}

static int boot_payload(struct vm *vm, const struct image *k, char *err, size_t errlen)
{
    struct elf_info info;
    int ret = boot_elf_segments(vm, k, &info, err, errlen);

    if (ret)
        return ret;
    return vcpu_set_long_mode(vm_vcpu(vm, 0), info.entry, 0, LAYOUT_FDT, LAYOUT_STACK_TOP);
}

static int boot_check_host(struct vm *vm, enum kernel_kind kind, char *err, size_t errlen)
{
    if (kind == KERNEL_ELF_PAYLOAD || kvm_host_runs_linux(vm_host(vm)))
        return 0;
    snprintf(err, errlen, "this host's /dev/kvm (%s) cannot run a stock Linux kernel: it has no "
             "VT-x/AMD-V; run kvmm on a host with hardware virtualization, or inside the "
             "test host VM (scripts/testhost.sh -- kvmm run ...)",
             vm_host(vm)->pvm ? "kvm_pvm, a software hypervisor" : "no kvm_intel/kvm_amd");
    return -ENOTSUP;
}

int boot_kernel_cmdline_max(const char *path, size_t *max)
{
    struct bzimage_info info;
    struct image k;
    int ret = image_map(path, &k);

    if (ret)
        return ret;
    *max = SIZE_MAX;
    if (boot_detect_kind(k.data, k.len) == KERNEL_BZIMAGE && !bzimage_parse(k.data, k.len, &info))
        *max = info.cmdline_size;
    image_unmap(&k);
    return 0;
}

int boot_load(struct vm *vm, char *err, size_t errlen)
{
    const struct vm_spec *spec = vm_spec(vm);
    struct image k;
    enum kernel_kind kind;
    gpa_t rsdp = 0;
    int ret = image_map(spec->kernel, &k);

    if (ret) {
        snprintf(err, errlen, "kernel %s: %s", spec->kernel, strerror(-ret));
        return ret;
    }
    kind = boot_detect_kind(k.data, k.len);
    if (kind == KERNEL_UNKNOWN) {
        snprintf(err, errlen, "kernel %s: neither a bzImage nor an ELF executable", spec->kernel);
        ret = -ENOEXEC;
        goto out_unmap;
    }
    ret = boot_check_host(vm, kind, err, errlen);
    if (ret)
        goto out_unmap;
    ret = boot_write_cpu_tables(vm_mem(vm));
    if (!ret)
        ret = boot_write_acpi(vm, &rsdp);
    if (ret) {
        snprintf(err, errlen, "guest memory too small for the boot tables");
        goto out_unmap;
    }
    ret = boot_write_fdt(vm, err, errlen);
    if (ret)
        goto out_unmap;
    if (kind == KERNEL_BZIMAGE)
        ret = boot_bzimage(vm, &k, rsdp, err, errlen);
    else if (kind == KERNEL_ELF_PVH)
        ret = boot_pvh(vm, &k, rsdp, err, errlen);
    else
        ret = boot_payload(vm, &k, err, errlen);
    if (ret && !err[0])
        snprintf(err, errlen, "cannot load %s: %s", spec->kernel, strerror(-ret));
out_unmap:
    image_unmap(&k);
    return ret;
}
