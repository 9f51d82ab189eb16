/* Thin wrappers around the KVM ioctls: one place that checks sizes and
 * turns failures into -errno. */
#ifndef KVMM_KVM_H
#define KVMM_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/kvm.h>
#include "types.h"

struct kvm_host {
    int fd;                 /* /dev/kvm */
    int run_size;           /* size of the kvm_run mapping */
    bool pvm;               /* kvm_pvm: software hypervisor, no VT-x/AMD-V */
    struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID */
};

/* Open /dev/kvm; on failure err explains what the user can do. */
int kvm_host_open(struct kvm_host *host, char *err, size_t errlen) WUR;
void kvm_host_close(struct kvm_host *host);
/* true when the host's KVM can run a stock Linux kernel */
bool kvm_host_runs_linux(const struct kvm_host *host);

/* ioctl() that retries on EINTR only when asked, and returns -errno. */
int kvm_ioctl(int fd, unsigned long req, void *arg) WUR;
int kvm_check_extension(int fd, long cap);

#endif
