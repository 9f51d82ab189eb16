/* Payload start-up, console and result reporting. */
#include "fw.h"

#define UART_THR        0       /* transmit holding register */
#define UART_LSR        5       /* line status register */
#define UART_LSR_THRE   0x20    /* THR empty: room for a byte */
#define UART_SPIN_MAX   100000  /* give up waiting on a missing UART */

uint16_t fw_testdev_port = PORT_TESTDEV;
uint16_t fw_serial_port = PORT_COM1;

void fw_start(const void *fdt);

static void ports_from_fdt(void)
{
    uint32_t port;
    int node;

    node = fw_fdt_path("/kvmm/testdev");
    if (node >= 0 && fw_fdt_prop_is(node, "compatible", "kvmm,testdev") &&
        fw_fdt_prop_u32(node, "port", &port) && port <= 0xfff8)
        fw_testdev_port = (uint16_t)port;
    node = fw_fdt_path("/kvmm/serial");
    if (node >= 0 && fw_fdt_prop_u32(node, "port", &port) && port <= 0xfff8)
        fw_serial_port = (uint16_t)port;
}

/* Called from start.S with the device tree address kvmm put in RDI. */
void fw_start(const void *fdt)
{
    if (fw_fdt_init(fdt) != 0)
        FAIL();     /* the boot ABI promises a device tree */
    ports_from_fdt();
    payload_main();
    FAIL();         /* a payload must report before it returns */
}

void fw_halt(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

void fw_report_ok(void)
{
    outl(fw_testdev_port + TESTDEV_REG_RESULT, TESTDEV_PASS);
    fw_halt();
}

void fw_fail(const char *file, unsigned line)
{
    fw_puts("FAIL at ");
    fw_puts(file);
    fw_putc(':');
    fw_putdec(line);
    fw_putc('\n');
    outl(fw_testdev_port + TESTDEV_REG_RESULT, TESTDEV_FAIL_BIT | (line & 0x7fffffffu));
    fw_halt();
}

void fw_print(uint32_t val)
{
    outl(fw_testdev_port + TESTDEV_REG_PRINT, val);
}

void fw_putc(char c)
{
    for (unsigned i = 0; i < UART_SPIN_MAX; i++)
        if (inb(fw_serial_port + UART_LSR) & UART_LSR_THRE)
            break;
    outb(fw_serial_port + UART_THR, (uint8_t)c);
}

void fw_puts(const char *s)
{
    while (*s)
        fw_putc(*s++);
}

void fw_puthex(uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    int shift = 60;

    fw_puts("0x");
    while (shift > 0 && (v >> shift) == 0)
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        fw_putc(digits[(v >> shift) & 0xf]);
}

void fw_putdec(uint64_t v)
{
    char buf[21];
    int i = sizeof(buf) - 1;

    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    fw_puts(&buf[i]);
}
