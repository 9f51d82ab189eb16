/* Guest RAM keeps what is written to it, and an address in the PCI hole
 * with no device behind it reads all ones and ignores writes. */
#include "fw.h"

#define PATTERN_BASE   (4 * MiB)
#define PATTERN_SIZE   (256 * KiB)
#define TOP_SIZE       (64 * KiB)
#define UNMAPPED_MMIO  0xD0000000ULL   /* PCI MMIO window, no BAR there */

/* A value that differs for every address and every pass. */
static uint64_t pattern(uint64_t addr, uint64_t seed)
{
    uint64_t x = addr ^ seed;

    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static void fill(uint64_t base, uint64_t size, uint64_t seed)
{
    for (uint64_t a = base; a < base + size; a += 8)
        *(volatile uint64_t *)a = pattern(a, seed);
}

static void verify(uint64_t base, uint64_t size, uint64_t seed)
{
    for (uint64_t a = base; a < base + size; a += 8)
        CHECK(*(volatile uint64_t *)a == pattern(a, seed));
}

/* Narrow stores land on the right bytes. */
static void check_widths(uint64_t a)
{
    mmio_write64(a, 0);
    mmio_write8(a + 1, 0x11);
    mmio_write16(a + 2, 0x3322);
    mmio_write32(a + 4, 0x77665544);
    CHECK(mmio_read64(a) == 0x7766554433221100ULL);
    CHECK(mmio_read8(a + 3) == 0x33);
    CHECK(mmio_read16(a + 5) == 0x6655);
    CHECK(mmio_read32(a + 1) == 0x44332211);
}

static void check_unmapped(uint64_t a)
{
    CHECK(mmio_read8(a) == 0xff);
    CHECK(mmio_read16(a) == 0xffff);
    CHECK(mmio_read32(a) == 0xffffffffu);
    CHECK(mmio_read64(a) == ~0ULL);
    mmio_write32(a, 0x12345678);
    CHECK(mmio_read32(a) == 0xffffffffu);
}

void payload_main(void)
{
    uint64_t base, size, top;

    CHECK(fw_mem_range(0, &base, &size));
    CHECK(base == 0 && size >= 16 * MiB);
    top = size - TOP_SIZE;          /* the last bytes of low RAM */

    fill(PATTERN_BASE, PATTERN_SIZE, 1);
    fill(top, TOP_SIZE, 1);
    verify(PATTERN_BASE, PATTERN_SIZE, 1);
    verify(top, TOP_SIZE, 1);
    fill(PATTERN_BASE, PATTERN_SIZE, 2);     /* every bit flips somewhere */
    verify(PATTERN_BASE, PATTERN_SIZE, 2);
    verify(top, TOP_SIZE, 1);
    check_widths(PATTERN_BASE);

    check_unmapped(UNMAPPED_MMIO);
    check_unmapped(UNMAPPED_MMIO + 0x1000 - 8);
    REPORT_OK();
}
