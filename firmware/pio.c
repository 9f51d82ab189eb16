/* Port I/O round trips to the test device: a PING write, then a read of
 * the signature register, `iterations` times (param, default 1000). */
#include "fw.h"

void payload_main(void)
{
    uint16_t port = fw_testdev_port;
    uint64_t n = 1000;

    CHECK(fw_param_u64("iterations", &n) >= 0);
    CHECK(n > 0 && n <= 0xffffffffu);
    for (uint64_t i = 0; i < n; i++) {
        outb(port + TESTDEV_REG_RESULT, (uint8_t)i);
        CHECK(inl(port + TESTDEV_REG_RESULT) == TESTDEV_SIGNATURE);
    }
    /* The print register reads back what was last printed. */
    fw_print((uint32_t)n);
    CHECK(inl(port + TESTDEV_REG_PRINT) == (uint32_t)n);
    /* Narrow reads are not part of the protocol: all ones. */
    CHECK(inb(port + TESTDEV_REG_RESULT) == 0xff);
    /* An unmapped port reads all ones too. */
    CHECK(inl(0x4f0) == 0xffffffffu);
    REPORT_OK();
}
