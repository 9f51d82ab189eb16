/* Panics through pvpanic: checks the device answers at PORT_PVPANIC with
 * its capability bits, busy-loops `loops` times (param, default 0) so a
 * control client can connect first, then writes PANICKED.  kvmm must stop the VM with
 * a panic (exit status 4, GUEST_PANICKED on the control socket). */
#include "fw.h"

#define PVPANIC_PANICKED     1u
#define PVPANIC_CRASH_LOADED 2u

void payload_main(void)
{
    uint64_t loops = 0;

    CHECK(fw_param_u64("loops", &loops) >= 0);
    for (volatile uint64_t i = 0; i < loops; i++)
        ;
    CHECK(inb(PORT_PVPANIC) == (PVPANIC_PANICKED | PVPANIC_CRASH_LOADED));
    fw_puts("panic: panicking now\n");
    outb(PORT_PVPANIC, PVPANIC_PANICKED);
    FAIL();     /* still running: the panic was not honoured */
}
