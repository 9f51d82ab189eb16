/* A store to a guest-physical address past the end of RAM, below the PCI
 * hole, must stop the VM as a guest fault ("access outside guest RAM",
 * exit status 3).  Reaching the FAIL() means kvmm let it through. */
#include "fw.h"

#define BEYOND (64 * MiB)

void payload_main(void)
{
    uint64_t base, size, target;

    CHECK(fw_mem_range(0, &base, &size));
    CHECK(base == 0);
    target = size + BEYOND;
    CHECK(target + 4 <= LAYOUT_PCI_HOLE);

    fw_puts("outside_ram: writing to ");
    fw_puthex(target);
    fw_putc('\n');
    mmio_write32(target, 0x0badc0de);
    FAIL();
}
