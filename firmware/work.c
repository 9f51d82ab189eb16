/* A workload that never ends: `chunk` iterations (param, default 20000)
 * of either an integer loop (io=0, the default) or port I/O round trips
 * to the test device (io=1: one exit each), then "p N" on the console,
 * for ever.  The scheduling tests and benchmarks read N as progress. */
#include "fw.h"

void payload_main(void)
{
    uint64_t chunk = 20000, io = 0, n = 0;
    volatile uint64_t x = 1;

    CHECK(fw_param_u64("chunk", &chunk) >= 0);
    CHECK(fw_param_u64("io", &io) >= 0);
    CHECK(chunk > 0);
    for (;;) {
        for (uint64_t i = 0; i < chunk; i++) {
            if (io)
                outb(fw_testdev_port + TESTDEV_REG_RESULT, (uint8_t)i);
            else
                x = x * 3 + i;
        }
        fw_puts("p ");
        fw_putdec(++n);
        fw_putc('\n');
    }
}
