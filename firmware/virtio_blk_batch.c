/* Batching in virtio-blk (run with --disk on an image whose sector s is
 * 512 bytes of (s * 7 + 1) & 0xff): param `requests` (16) reads of one
 * sector each are offered with a single index update and one notify; all
 * must complete with status OK and the right bytes, and the queue's MSI-X
 * vector (left masked) must show the device signalled.  tests/fw/run.sh
 * checks kvmm's counters: requests per submit, interrupts per batch. */
#include "fw.h"
#include "virtio.h"

#define PCI_DEVICE_BLK  0x1042      /* 0x1040 + VIRTIO_ID_BLOCK */
#define QSIZE           256
#define RING            (4 * MiB)
#define HDRS            (RING + 0x4000)     /* 16-byte request headers */
#define STATUS          (RING + 0x5000)     /* one status byte each */
#define DATA            (RING + 0x10000)    /* one sector each */
#define SECTOR          512
#define MAX_REQS        (QSIZE / 3)
#define QUEUE_VECTOR    1
#define WAIT_SECS       10

struct blk_outhdr {
    uint32_t type, reserved;
    uint64_t sector;
};

static struct fw_virtio dev;

static uint8_t sector_byte(unsigned s)
{
    return (uint8_t)(s * 7 + 1);
}

/* MSI-X on, every entry masked: a raised vector only sets its PBA bit. */
static uint64_t msix_enable(void)
{
    uint32_t pba;

    CHECK(dev.msix);
    pba = mmio_read32(dev.cfg + dev.msix + 8);
    mmio_write16(dev.cfg + dev.msix + 2, 0x8000);
    mmio_write16(dev.common + VIRTIO_COMMON_Q_SELECT, 0);
    mmio_write16(dev.common + VIRTIO_COMMON_Q_MSIX, QUEUE_VECTOR);
    CHECK(mmio_read16(dev.common + VIRTIO_COMMON_Q_MSIX) == QUEUE_VECTOR);
    return fw_pci_bar(&dev, pba & 7) + (pba & ~7u);
}

static void post_reads(unsigned n)
{
    uint16_t heads[MAX_REQS];

    for (unsigned r = 0; r < n; r++) {
        volatile struct blk_outhdr *h = (volatile struct blk_outhdr *)HDRS + r;

        h->type = 0;                /* VIRTIO_BLK_T_IN */
        h->reserved = 0;
        h->sector = r;
        *(volatile uint8_t *)(STATUS + r) = 0xff;
        memset((void *)(DATA + (uint64_t)r * SECTOR), 0, SECTOR);
        *fw_virtq_desc(&dev, 3 * r) = (struct fw_virtq_desc){
            HDRS + 16 * r, 16, VIRTQ_F_NEXT, (uint16_t)(3 * r + 1) };
        *fw_virtq_desc(&dev, 3 * r + 1) = (struct fw_virtq_desc){
            DATA + (uint64_t)r * SECTOR, SECTOR, VIRTQ_F_WRITE | VIRTQ_F_NEXT,
            (uint16_t)(3 * r + 2) };
        *fw_virtq_desc(&dev, 3 * r + 2) = (struct fw_virtq_desc){
            STATUS + r, 1, VIRTQ_F_WRITE, 0 };
        heads[r] = (uint16_t)(3 * r);
    }
    fw_virtq_offer(&dev, heads, n);
}

static void check_reads(unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint32_t id, len;
        unsigned r;

        fw_virtq_used_elem(&dev, i, &id, &len);
        CHECK(id % 3 == 0 && id / 3 < n);
        r = id / 3;
        CHECK(len == SECTOR + 1);
        CHECK(*(volatile uint8_t *)(STATUS + r) == 0);
        for (unsigned b = 0; b < SECTOR; b++)
            CHECK(*(volatile uint8_t *)(DATA + (uint64_t)r * SECTOR + b) == sector_byte(r));
    }
}

void payload_main(void)
{
    uint64_t n = 16, pba;
    struct fw_deadline d;

    CHECK(fw_param_u64("requests", &n) >= 0);
    CHECK(n >= 1 && n <= MAX_REQS);
    CHECK(fw_virtio_find(&dev, PCI_DEVICE_BLK));
    fw_virtio_init(&dev, QSIZE, RING);
    pba = msix_enable();
    CHECK((mmio_read64(pba) & (1u << QUEUE_VECTOR)) == 0);

    post_reads((unsigned)n);
    fw_deadline_start(&d, WAIT_SECS);
    while (fw_virtq_used_idx(&dev) != n)
        CHECK(!fw_deadline_passed(&d));
    check_reads((unsigned)n);
    CHECK(mmio_read64(pba) & (1u << QUEUE_VECTOR));
    CHECK(!(fw_virtio_status(&dev) & VIRTIO_S_NEEDS_RESET));
    fw_print((uint32_t)n);
    REPORT_OK();
}
