/* The smallest payload: a line on COM1, then OK. */
#include "fw.h"

void payload_main(void)
{
    fw_puts("Hello from kvmm firmware\n");
    REPORT_OK();
}
