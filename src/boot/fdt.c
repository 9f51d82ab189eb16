#include "boot/fdt.h"

#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "boot/layout.h"
#include "mem/guest_mem.h"
#include "spec.h"

#define SERIAL_PATH "/kvmm/serial@3f8"

/* libfdt reports -FDT_ERR_*; callers of this module get -errno. */
static int fdt_errno(int err)
{
    if (err >= 0)
        return 0;
    return err == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
}

/* The device-tree specification's property-name alphabet. */
static bool param_key_valid(const char *key)
{
    size_t n = strlen(key);

    if (n == 0 || n > FDT_PARAM_KEY_MAX)
        return false;
    for (const char *p = key; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || strchr(",._+?#-", c);

        if (!ok)
            return false;
    }
    return true;
}

static int config_check(const struct fdt_config *cfg)
{
    if (cfg->ncpus == 0 || !cfg->mem || cfg->mem->nregions == 0)
        return -EINVAL;
    if (cfg->nparams && !cfg->params)
        return -EINVAL;
    for (size_t i = 0; i < cfg->nparams; i++) {
        const struct spec_param *p = &cfg->params[i];

        if (!p->key || !p->value || !param_key_valid(p->key))
            return -EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->params[j].key, p->key) == 0)
                return -EINVAL;
    }
    return 0;
}

static int add_chosen(void *fdt, const struct fdt_config *cfg)
{
    int err = fdt_begin_node(fdt, "chosen");

    if (!err && cfg->cmdline && cfg->cmdline[0])
        err = fdt_property_string(fdt, "bootargs", cfg->cmdline);
    if (!err)
        err = fdt_property_string(fdt, "stdout-path", SERIAL_PATH);
    if (!err)
        err = fdt_end_node(fdt);
    return err;
}

static int add_memory(void *fdt, const struct guest_mem *mem)
{
    fdt64_t reg[2 * GUEST_MEM_MAX_REGIONS];
    unsigned n = 0;
    int err;

    for (unsigned i = 0; i < mem->nregions; i++) {
        reg[n++] = cpu_to_fdt64(mem->regions[i].gpa);
        reg[n++] = cpu_to_fdt64(mem->regions[i].size);
    }
    err = fdt_begin_node(fdt, "memory@0");
    if (!err)
        err = fdt_property_string(fdt, "device_type", "memory");
    if (!err)
        err = fdt_property(fdt, "reg", reg, (int)(n * sizeof(reg[0])));
    if (!err)
        err = fdt_end_node(fdt);
    return err;
}

static int add_cpus(void *fdt, unsigned ncpus)
{
    int err = fdt_begin_node(fdt, "cpus");

    if (!err)
        err = fdt_property_u32(fdt, "#address-cells", 1);
    if (!err)
        err = fdt_property_u32(fdt, "#size-cells", 0);
    for (unsigned i = 0; !err && i < ncpus; i++) {
        char name[24];

        snprintf(name, sizeof(name), "cpu@%x", i);
        err = fdt_begin_node(fdt, name);
        if (!err)
            err = fdt_property_string(fdt, "device_type", "cpu");
        if (!err)
            err = fdt_property_u32(fdt, "reg", i);
        if (!err)
            err = fdt_end_node(fdt);
    }
    if (!err)
        err = fdt_end_node(fdt);
    return err;
}

/* A device in I/O port space: reg = <port len> under /kvmm, plus the
 * plain `port` cell payloads read. */
static int begin_port_device(void *fdt, const char *name, const char *compat,
                             uint32_t port, uint32_t len)
{
    uint32_t reg[2] = { cpu_to_fdt32(port), cpu_to_fdt32(len) };
    char node[32];
    int err;

    snprintf(node, sizeof(node), "%s@%x", name, port);
    err = fdt_begin_node(fdt, node);
    if (!err)
        err = fdt_property_string(fdt, "compatible", compat);
    if (!err)
        err = fdt_property(fdt, "reg", reg, sizeof(reg));
    if (!err)
        err = fdt_property_u32(fdt, "port", port);
    return err;
}

static int add_params(void *fdt, const struct fdt_config *cfg)
{
    int err = fdt_begin_node(fdt, "params");

    for (size_t i = 0; !err && i < cfg->nparams; i++)
        err = fdt_property_string(fdt, cfg->params[i].key, cfg->params[i].value);
    if (!err)
        err = fdt_end_node(fdt);
    return err;
}

static int add_kvmm(void *fdt, const struct fdt_config *cfg)
{
    int err = fdt_begin_node(fdt, "kvmm");

    if (!err)
        err = fdt_property_u32(fdt, "#address-cells", 1);
    if (!err)
        err = fdt_property_u32(fdt, "#size-cells", 1);
    if (!err)
        err = begin_port_device(fdt, "testdev", "kvmm,testdev", PORT_TESTDEV, 8);
    if (!err)
        err = fdt_end_node(fdt);
    if (!err)
        err = begin_port_device(fdt, "serial", "ns16550a", PORT_COM1, 8);
    if (!err)
        err = fdt_property_u32(fdt, "interrupts", IRQ_COM1);
    if (!err)
        err = fdt_property_u32(fdt, "clock-frequency", 1843200);
    if (!err)
        err = fdt_end_node(fdt);
    if (!err)
        err = add_params(fdt, cfg);
    if (!err)
        err = fdt_end_node(fdt);
    return err;
}

/* The PCI host bridge: configuration space through ECAM (bus 0 only, the
 * one kvmm models) and the 32-bit window the BARs are placed in. */
static int add_pci(void *fdt)
{
    fdt32_t bus_range[2] = { cpu_to_fdt32(0), cpu_to_fdt32(0) };
    fdt64_t reg[2] = { cpu_to_fdt64(LAYOUT_ECAM), cpu_to_fdt64(LAYOUT_ECAM_SIZE) };
    fdt32_t ranges[7] = {
        cpu_to_fdt32(0x02000000),       /* 32-bit memory space */
        cpu_to_fdt32(0), cpu_to_fdt32((uint32_t)LAYOUT_PCI_MMIO),
        cpu_to_fdt32(0), cpu_to_fdt32((uint32_t)LAYOUT_PCI_MMIO),
        cpu_to_fdt32(0), cpu_to_fdt32((uint32_t)LAYOUT_PCI_MMIO_SIZE),
    };
    char name[32];
    int err;

    snprintf(name, sizeof(name), "pci@%llx", (unsigned long long)LAYOUT_ECAM);
    err = fdt_begin_node(fdt, name);
    if (!err)
        err = fdt_property_string(fdt, "compatible", "pci-host-ecam-generic");
    if (!err)
        err = fdt_property_string(fdt, "device_type", "pci");
    if (!err)
        err = fdt_property_u32(fdt, "#address-cells", 3);
    if (!err)
        err = fdt_property_u32(fdt, "#size-cells", 2);
    if (!err)
        err = fdt_property(fdt, "reg", reg, sizeof(reg));
    if (!err)
        err = fdt_property(fdt, "bus-range", bus_range, sizeof(bus_range));
    if (!err)
        err = fdt_property(fdt, "ranges", ranges, sizeof(ranges));
    if (!err)
        err = fdt_end_node(fdt);
    return err;
}

int fdt_build(void *buf, size_t len, const struct fdt_config *cfg)
{
    int err = config_check(cfg);

    if (err)
        return err;
    if (len > INT_MAX)
        len = INT_MAX;
    err = fdt_create(buf, (int)len);
    if (!err)
        err = fdt_finish_reservemap(buf);
    if (!err)
        err = fdt_begin_node(buf, "");
    if (!err)
        err = fdt_property_string(buf, "compatible", "kvmm,virt");
    if (!err)
        err = fdt_property_u32(buf, "#address-cells", 2);
    if (!err)
        err = fdt_property_u32(buf, "#size-cells", 2);
    if (!err)
        err = add_chosen(buf, cfg);
    if (!err)
        err = add_memory(buf, cfg->mem);
    if (!err)
        err = add_cpus(buf, cfg->ncpus);
    if (!err)
        err = add_pci(buf);
    if (!err)
        err = add_kvmm(buf, cfg);
    if (!err)
        err = fdt_end_node(buf);
    if (!err)
        err = fdt_finish(buf);
    return fdt_errno(err);
}

int fdt_write_file(const void *fdt, const char *path)
{
    const uint8_t *p = fdt;
    size_t left;
    int fd, err = 0;

    if (fdt_check_header(fdt) != 0)
        return -EINVAL;
    left = fdt_totalsize(fdt);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    while (left > 0) {
        ssize_t n = write(fd, p, left);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? -errno : -EIO;
            goto out_close_fd;
        }
        p += n;
        left -= (size_t)n;
    }
out_close_fd:
    if (close(fd) != 0 && !err)
        err = -errno;
    return err;
}
