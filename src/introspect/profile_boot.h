/* Kernel profiles for kernels that ship without symbols: boot the kernel
 * once under kvmm (nokaslr, a generated busybox initramfs) and read
 * /proc/kallsyms.  Needs a host whose /dev/kvm runs Linux. */
#ifndef KVMM_INTROSPECT_PROFILE_BOOT_H
#define KVMM_INTROSPECT_PROFILE_BOOT_H

#include <stddef.h>
#include "introspect/profile.h"
#include "types.h"

/* Fill p with the wanted symbols and p->version with the booted kernel's
 * release.  0, -ENOTSUP (this host cannot boot Linux), -errno; err set. */
int isp_profile_boot(const char *kernel, unsigned timeout, struct isp_profile *p, char *err,
                     size_t errlen) WUR;

#endif
