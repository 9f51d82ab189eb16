/* Panics through pvpanic: checks the device answers at PORT_PVPANIC with
 * its capability bits, then writes PANICKED.  kvmm must stop the VM with
 * a panic (exit status 4, GUEST_PANICKED on the control socket). */
#include "fw.h"

#define PVPANIC_PANICKED     1u
#define PVPANIC_CRASH_LOADED 2u

void payload_main(void)
{
    CHECK(inb(PORT_PVPANIC) == (PVPANIC_PANICKED | PVPANIC_CRASH_LOADED));
    fw_puts("panic: panicking now\n");
    outb(PORT_PVPANIC, PVPANIC_PANICKED);
    FAIL();     /* still running: the panic was not honoured */
}
