#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

int kvm_ioctl(int fd, unsigned long req, void *arg)
{
    int ret = ioctl(fd, req, arg);

    return ret < 0 ? -errno : ret;
}

int kvm_check_extension(int fd, long cap)
{
    int ret = ioctl(fd, KVM_CHECK_EXTENSION, cap);

    return ret < 0 ? 0 : ret;
}

static bool path_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

static int kvm_open_error(int err, char *msg, size_t len)
{
    if (err == ENOENT)
        snprintf(msg, len, "/dev/kvm does not exist: load kvm_intel or kvm_amd "
                 "(modprobe) on a host with VT-x/AMD-V enabled");
    else if (err == EACCES || err == EPERM)
        snprintf(msg, len, "no permission to open /dev/kvm: run as root or add "
                 "your user to the 'kvm' group");
    else
        snprintf(msg, len, "cannot open /dev/kvm: %s", strerror(err));
    return -err;
}

static int kvm_cpuid_fetch(struct kvm_host *host)
{
    for (int n = 64; n <= 1024; n *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
        int ret;

        if (!c)
            return -ENOMEM;
        c->nent = n;
        ret = kvm_ioctl(host->fd, KVM_GET_SUPPORTED_CPUID, c);
        if (ret == 0) {
            host->cpuid = c;
            return 0;
        }
        free(c);
        if (ret != -E2BIG)
            return ret;
    }
    return -E2BIG;
}

int kvm_host_open(struct kvm_host *host, char *err, size_t errlen)
{
    int ret;

    memset(host, 0, sizeof(*host));
    host->fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (host->fd < 0)
        return kvm_open_error(errno, err, errlen);
    ret = kvm_ioctl(host->fd, KVM_GET_API_VERSION, NULL);
    if (ret != KVM_API_VERSION) {
        snprintf(err, errlen, "/dev/kvm speaks API version %d, expected %d", ret, KVM_API_VERSION);
        ret = -EINVAL;
        goto out_close;
    }
    host->run_size = kvm_ioctl(host->fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
    if (host->run_size < 0) {
        ret = host->run_size;
        snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(-ret));
        goto out_close;
    }
    ret = kvm_cpuid_fetch(host);
    if (ret) {
        snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-ret));
        goto out_close;
    }
    host->pvm = path_exists("/sys/module/kvm_pvm");
    return 0;

out_close:
    close(host->fd);
    host->fd = -1;
    return ret;
}

void kvm_host_close(struct kvm_host *host)
{
    if (host->fd >= 0)
        close(host->fd);
    free(host->cpuid);
    host->cpuid = NULL;
    host->fd = -1;
}

bool kvm_host_runs_linux(const struct kvm_host *host)
{
    /* kvm_pvm emulates guest ring 0 in software and cannot run a stock
     * kernel; real hosts expose kvm_intel or kvm_amd. */
    if (host->pvm)
        return false;
    return path_exists("/sys/module/kvm_intel") || path_exists("/sys/module/kvm_amd");
}
