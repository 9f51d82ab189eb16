/* Loads what the spec names into a freshly built VM and sets up the boot
 * vCPU: a bzImage (64-bit entry), an ELF vmlinux through its PVH note, or
 * a bare ELF64 payload (64-bit entry, RDI = device tree). */
#ifndef KVMM_BOOT_LOADER_H
#define KVMM_BOOT_LOADER_H

#include <stddef.h>
#include "types.h"

struct vm;

enum kernel_kind { KERNEL_UNKNOWN, KERNEL_BZIMAGE, KERNEL_ELF_PVH, KERNEL_ELF_PAYLOAD };

/* What kind of image a file holds, from its first bytes. */
enum kernel_kind boot_detect_kind(const uint8_t *img, size_t len);

int boot_load(struct vm *vm, char *err, size_t errlen) WUR;

/* The longest command line the kernel at `path` takes by its own rules (a
 * bzImage's cmdline_size), or SIZE_MAX if it sets none; -errno if the file
 * cannot be read. */
int boot_kernel_cmdline_max(const char *path, size_t *max) WUR;

#endif
