/* With an empty IDT every exception escalates to a triple fault, which
 * must end the VM with a shutdown (triple fault) stop.
 * Param `method`: div0 (default), ud2, or noncanonical. */
#include "fw.h"

struct __attribute__((packed)) idtr {
    uint16_t limit;
    uint64_t base;
};

void payload_main(void)
{
    const char *method = fw_param("method");
    static const struct idtr empty = { 0, 0 };
    int how;

    if (!method || strcmp(method, "div0") == 0)
        how = 0;
    else if (strcmp(method, "ud2") == 0)
        how = 1;
    else if (strcmp(method, "noncanonical") == 0)
        how = 2;
    else
        FAIL();

    fw_puts("triple_fault: faulting now\n");
    __asm__ volatile("lidt %0" : : "m"(empty));
    if (how == 0)
        __asm__ volatile("xor %%ecx, %%ecx\n\tdiv %%ecx" : : : "eax", "ecx", "edx");
    else if (how == 1)
        __asm__ volatile("ud2");
    else
        mmio_read32(0x8000000000000000ULL);
    FAIL();     /* still running: the exception went nowhere */
}
