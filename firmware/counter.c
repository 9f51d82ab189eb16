/* Counts forever: a counter in RAM goes up by one per loop, and every
 * `every` increments (param, default 200000) its value is written to the
 * console and to the test port's PRINT register, where the host reads it back (x-query-stats,
 * devices.testdev.last_print).  Tests pause and resume the VM and check
 * the counter stands still in between.  Never reports a result. */
#include "fw.h"

static volatile uint64_t counter;

void payload_main(void)
{
    uint64_t every = 200000;

    CHECK(fw_param_u64("every", &every) >= 0);
    CHECK(every > 0);
    fw_puts("counter: counting\n");
    for (;;) {
        counter++;
        if (counter % every == 0) {
            fw_print((uint32_t)(counter / every));
            fw_puts("counter: ");
            fw_putdec(counter / every);
            fw_putc('\n');
        }
    }
}
