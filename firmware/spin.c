/* Waits: halts with interrupts off, so the VM stays up, idle, until the
 * host stops it.  With param `loops` it busy-loops that many times first
 * and then reports OK instead. */
#include "fw.h"

void payload_main(void)
{
    uint64_t loops = 0;

    CHECK(fw_param_u64("loops", &loops) >= 0);
    fw_puts("spin: waiting\n");
    if (loops) {
        for (volatile uint64_t i = 0; i < loops; i++)
            ;
        REPORT_OK();
    }
    fw_halt();
}
