/* Shared support for firmware payloads: port and MMIO access, the COM1
 * console, result reporting through the test port, and a small reader for
 * the device tree kvmm passes in RDI.  See docs/firmware.md. */
#ifndef FW_H
#define FW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/layout.h"
#include "devices/testdev.h"

/* ---- each payload provides this; it must end in REPORT_OK() or FAIL() */
void payload_main(void);

/* ---- reporting */
#define REPORT_OK() fw_report_ok()
#define FAIL() fw_fail(__FILE__, __LINE__)
#define CHECK(cond)         \
    do {                    \
        if (!(cond))        \
            FAIL();         \
    } while (0)

__attribute__((noreturn)) void fw_report_ok(void);
/* Prints "FAIL at file:line" on the console, then reports FAIL(line). */
__attribute__((noreturn)) void fw_fail(const char *file, unsigned line);
/* Log a value through the test port ("testdev: value 0x..."). */
void fw_print(uint32_t val);
__attribute__((noreturn)) void fw_halt(void);

/* Ports found in the device tree (the layout.h defaults without one). */
extern uint16_t fw_testdev_port, fw_serial_port;

/* ---- COM1 console: polls LSR.THRE before each byte */
void fw_putc(char c);
void fw_puts(const char *s);
void fw_puthex(uint64_t v);
void fw_putdec(uint64_t v);

/* ---- port I/O */
static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;

    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint16_t inw(uint16_t port)
{
    uint16_t v;

    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint32_t inl(uint16_t port)
{
    uint32_t v;

    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

/* ---- memory-mapped access of an exact width (identity-mapped below
 * 4 GiB, so a guest physical address is also a pointer) */
#define FW_MMIO_ACCESSORS(bits, suffix)                                      \
    static inline uint##bits##_t mmio_read##bits(uint64_t addr)              \
    {                                                                        \
        uint##bits##_t v;                                                    \
        __asm__ volatile("mov" suffix " (%1), %0"                            \
                         : "=r"(v) : "r"(addr) : "memory");                  \
        return v;                                                            \
    }                                                                        \
    static inline void mmio_write##bits(uint64_t addr, uint##bits##_t v)     \
    {                                                                        \
        __asm__ volatile("mov" suffix " %0, (%1)"                            \
                         : : "r"(v), "r"(addr) : "memory");                  \
    }
FW_MMIO_ACCESSORS(8, "b")
FW_MMIO_ACCESSORS(16, "w")
FW_MMIO_ACCESSORS(32, "l")
FW_MMIO_ACCESSORS(64, "q")
#undef FW_MMIO_ACCESSORS

/* ---- device tree reader.  Nodes are offsets into the structure block;
 * every function checks bounds and returns -1 / NULL / false on a
 * malformed or missing item. */
int fw_fdt_init(const void *fdt);
bool fw_fdt_ready(void);
/* "/kvmm/testdev": a component without '@' also matches "name@unit". */
int fw_fdt_path(const char *path);
int fw_fdt_first_child(int node);
int fw_fdt_next_sibling(int node);
const char *fw_fdt_name(int node);
const void *fw_fdt_prop(int node, const char *name, uint32_t *len);
/* A one-cell property, or a string property equal to want. */
bool fw_fdt_prop_u32(int node, const char *name, uint32_t *val);
bool fw_fdt_prop_is(int node, const char *name, const char *want);
/* Children of node named base or base@unit. */
int fw_fdt_count_children(int node, const char *base);

/* The i-th RAM range over all /memory nodes; false past the last one. */
bool fw_mem_range(unsigned i, uint64_t *base, uint64_t *size);
uint64_t fw_mem_total(void);

/* /kvmm/params: the string, or NULL when absent. */
const char *fw_param(const char *key);
/* 1 = found and parsed (decimal or 0x hex), 0 = absent, -1 = malformed. */
int fw_param_u64(const char *key, uint64_t *val);

/* ---- helpers the compiler may call */
void *memset(void *s, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

#endif
