/* The flattened device tree that describes the machine to firmware
 * payloads (placed at LAYOUT_FDT, its address passed in RDI).
 *
 *   / { compatible = "kvmm,virt"; #address-cells = <2>; #size-cells = <2>;
 *       chosen { bootargs = "..."; stdout-path = "/kvmm/serial@3f8"; };
 *       memory@0 { device_type = "memory"; reg = <one pair per RAM region>; };
 *       cpus { cpu@N { device_type = "cpu"; reg = <N>; }; ... };
 *       pci@e0000000 { compatible = "pci-host-ecam-generic"; device_type = "pci";
 *                      reg = <ECAM base, size>; bus-range = <0 0>;
 *                      ranges = <the BAR window>; };
 *       kvmm {                      (I/O port space: 1 address, 1 size cell)
 *           testdev@440 { compatible = "kvmm,testdev"; port = <0x440>; };
 *           serial@3f8  { compatible = "ns16550a"; port = <0x3f8>;
 *                         interrupts = <4>; };
 *           params { KEY = "VALUE"; ... };
 *       };
 *   };
 *
 * docs/firmware.md documents the tree for payload writers. */
#ifndef KVMM_BOOT_FDT_H
#define KVMM_BOOT_FDT_H

#include <stddef.h>
#include "types.h"

struct guest_mem;
struct spec_param;

struct fdt_config {
    const char *cmdline;              /* /chosen/bootargs; NULL or "" omits it */
    unsigned ncpus;                   /* cpu@0 .. cpu@(ncpus-1), at least 1 */
    const struct guest_mem *mem;      /* its RAM regions become /memory@0 reg */
    const struct spec_param *params;  /* /kvmm/params, one string per key */
    size_t nparams;
};

/* Longest parameter name the tree accepts (the device-tree limit). */
#define FDT_PARAM_KEY_MAX 31

/* Build the tree into buf.  Returns 0, -ENOSPC when buf is too small, or
 * -EINVAL for a bad configuration (no CPU, no RAM, a parameter name that is
 * empty, too long, not made of [A-Za-z0-9,._+#?-], or given twice). */
int fdt_build(void *buf, size_t len, const struct fdt_config *cfg) WUR;

/* Write a finished tree (fdt_totalsize bytes) to path, replacing it. */
int fdt_write_file(const void *fdt, const char *path) WUR;

#endif
