/* Guest physical memory map shared by the loaders, ACPI and the devices. */
#ifndef KVMM_BOOT_LAYOUT_H
#define KVMM_BOOT_LAYOUT_H

#include <stdint.h>

#define KiB (1024ULL)
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)

/* Low memory, below 1 MiB */
#define LAYOUT_GDT           0x0500ULL   /* flat GDT for the 64-bit entry */
#define LAYOUT_PVH_START     0x6000ULL   /* hvm_start_info + memmap (PVH boot) */
#define LAYOUT_ZERO_PAGE     0x7000ULL   /* struct boot_params (bzImage boot) */
#define LAYOUT_PML4          0x9000ULL   /* identity map: PML4, PDPT, 4 PDs */
#define LAYOUT_PDPT          0xA000ULL
#define LAYOUT_PD            0xB000ULL   /* 4 pages: 0xB000..0xEFFF, 2 MiB pages */
#define LAYOUT_CMDLINE       0x20000ULL
#define LAYOUT_CMDLINE_MAX   0xF000ULL
#define LAYOUT_SETUP_DTB     0x2FFF0ULL  /* setup_data header right before the FDT */
#define LAYOUT_FDT           0x30000ULL  /* flattened device tree for payloads */
#define LAYOUT_FDT_MAX       0x10000ULL
#define LAYOUT_STACK_TOP     0x80000ULL  /* initial stack for payloads */
#define LAYOUT_EBDA_START    0x9FC00ULL  /* [EBDA, 1 MiB) is reserved in e820 */
#define LAYOUT_ACPI          0xE0000ULL  /* RSDP + tables, 64 KiB, 16-byte aligned */
#define LAYOUT_ACPI_MAX      0x20000ULL
#define LAYOUT_KERNEL        0x100000ULL /* protected-mode kernel / payload load address */

/* The 32-bit PCI hole: RAM stops at LAYOUT_PCI_HOLE and resumes at 4 GiB. */
#define LAYOUT_PCI_HOLE      0xC0000000ULL
#define LAYOUT_PCI_MMIO      0xC0000000ULL /* BARs: 0xC0000000..0xDFFFFFFF */
#define LAYOUT_PCI_MMIO_SIZE 0x20000000ULL
/* I/O-space BARs: ports 0xC000..0xFFFF, inside the host bridge's I/O window. */
#define LAYOUT_PCI_PIO       0xC000
#define LAYOUT_PCI_PIO_SIZE  0x4000
#define LAYOUT_ECAM          0xE0000000ULL /* PCI ECAM, 256 MiB (bus 0..255) */
#define LAYOUT_ECAM_SIZE     0x10000000ULL
#define LAYOUT_IOAPIC        0xFEC00000ULL
#define LAYOUT_LAPIC         0xFEE00000ULL
#define LAYOUT_HIGH_RAM      0x100000000ULL

/* Legacy I/O ports and interrupt lines */
#define PORT_COM1            0x3f8
#define IRQ_COM1             4
#define PORT_CMOS            0x70        /* 0x70..0x71 */
#define IRQ_RTC              8
#define PORT_I8042_DATA      0x60
#define PORT_I8042_CMD       0x64
#define PORT_PVPANIC         0x505
#define PORT_ACPI_PM1A_EVT   0x600       /* 4 bytes: status, enable */
#define PORT_ACPI_PM1A_CNT   0x604       /* 2 bytes */
#define PORT_ACPI_PM_TMR     0x608       /* 4 bytes, 3.579545 MHz */
#define PORT_ACPI_RESET      0x60c       /* 1 byte, write ACPI_RESET_VALUE */
#define ACPI_RESET_VALUE     0x06
#define ACPI_SCI_IRQ         9
#define PORT_TESTDEV         0x440       /* test port for firmware payloads, 8 bytes */

#endif
