/* A driver that breaks the virtqueue ABI: the virtio-rng device (run with
 * --rng) must refuse the chain, set NEEDS_RESET and raise the config
 * change, and work again after a reset.  Param `mode`:
 *   loop     descriptor 0 -> 1 -> 0 (default)
 *   outside  one descriptor whose buffer lies past the end of guest RAM
 *   valid    a well-formed request only (the control case)
 * Every mode also checks the VIRTIO_PCI_CAP_PCI_CFG access window. */
#include "fw.h"
#include "virtio.h"

#define PCI_DEVICE_RNG  0x1044      /* 0x1040 + VIRTIO_ID_RNG */
#define QSIZE           8
#define RING            (4 * MiB)   /* queue 0, above the payload */
#define BUF             (RING + 0x3000)
#define BUF_LEN         64
#define FILL            0xa5
#define WAIT_SECS       5

static struct fw_virtio dev;

/* ---- the PCI_CFG window: BAR 0 through config space */

static void window_set(unsigned bar, uint32_t offset, uint32_t len)
{
    mmio_write8(dev.cfg + dev.pcicfg + 4, (uint8_t)bar);
    mmio_write32(dev.cfg + dev.pcicfg + 8, offset);
    mmio_write32(dev.cfg + dev.pcicfg + 12, len);
}

static uint32_t window_data(void)
{
    return mmio_read32(dev.cfg + dev.pcicfg + 16);
}

static void check_pci_cfg_window(void)
{
    uint64_t common = dev.common;
    uint32_t off = (uint32_t)(common - fw_pci_bar(&dev, 0));

    CHECK(dev.pcicfg);
    CHECK(mmio_read8(dev.cfg + dev.pcicfg + 2) >= 20);     /* cap_len */

    /* Reads: num_queues and the device feature word. */
    window_set(0, off + VIRTIO_COMMON_NUMQ, 2);
    CHECK((window_data() & 0xffff) == 1);
    mmio_write32(common + VIRTIO_COMMON_DFSELECT, 1);
    window_set(0, off + VIRTIO_COMMON_DF, 4);
    CHECK(window_data() == mmio_read32(common + VIRTIO_COMMON_DF));
    CHECK(window_data() & 1);                               /* VERSION_1 */

    /* Writes land in the BAR. */
    window_set(0, off + VIRTIO_COMMON_DFSELECT, 4);
    mmio_write32(dev.cfg + dev.pcicfg + 16, 0);
    CHECK(mmio_read32(common + VIRTIO_COMMON_DFSELECT) == 0);
    mmio_write32(dev.cfg + dev.pcicfg + 16, 1);
    CHECK(mmio_read32(common + VIRTIO_COMMON_DFSELECT) == 1);

    /* Out of bounds, misaligned, a bad length or another BAR: no access. */
    window_set(0, 0xfffffffc, 4);
    CHECK(window_data() == 0);
    window_set(0, off + VIRTIO_COMMON_DF + 1, 2);
    CHECK(window_data() == 0);
    window_set(0, off + VIRTIO_COMMON_DF, 3);
    CHECK(window_data() == 0);
    window_set(5, 0, 4);
    CHECK(window_data() == 0);
    mmio_write32(dev.cfg + dev.pcicfg + 16, 0xffffffff);
    CHECK(mmio_read32(common + VIRTIO_COMMON_DFSELECT) == 1);
}

/* ---- requests */

static void offer(uint16_t head)
{
    fw_virtq_offer(&dev, &head, 1);
}

/* Offer one writable buffer and wait for the device to fill it. */
static void request_valid(void)
{
    uint8_t *buf = (uint8_t *)BUF;
    struct fw_deadline d;
    unsigned same = 0;
    uint32_t id, len;

    memset(buf, FILL, BUF_LEN);
    *fw_virtq_desc(&dev, 0) = (struct fw_virtq_desc){ BUF, BUF_LEN, VIRTQ_F_WRITE, 0 };
    offer(0);
    fw_deadline_start(&d, WAIT_SECS);
    while (fw_virtq_used_idx(&dev) != 1)
        CHECK(!fw_deadline_passed(&d));
    fw_virtq_used_elem(&dev, 0, &id, &len);
    CHECK(id == 0 && len == BUF_LEN);
    for (unsigned i = 0; i < BUF_LEN; i++)
        same += buf[i] == FILL;
    CHECK(same < BUF_LEN / 2);      /* random bytes replaced the fill */
    CHECK(!(fw_virtio_status(&dev) & VIRTIO_S_NEEDS_RESET));
}

/* Offer a chain the device must refuse: NEEDS_RESET, the config interrupt
 * status bit and a new config generation; nothing completes. */
static void request_broken(bool loop)
{
    uint64_t base, size, high_base, high_size;
    uint8_t gen = mmio_read8(dev.common + VIRTIO_COMMON_CFGGEN);
    struct fw_deadline d;

    if (loop) {
        *fw_virtq_desc(&dev, 0) =
            (struct fw_virtq_desc){ BUF, 16, VIRTQ_F_WRITE | VIRTQ_F_NEXT, 1 };
        *fw_virtq_desc(&dev, 1) =
            (struct fw_virtq_desc){ BUF + 16, 16, VIRTQ_F_WRITE | VIRTQ_F_NEXT, 0 };
    } else {
        CHECK(fw_mem_range(0, &base, &size));
        CHECK(!fw_mem_range(1, &high_base, &high_size));   /* no RAM above the hole */
        *fw_virtq_desc(&dev, 0) =
            (struct fw_virtq_desc){ size + 64 * MiB, 4096, VIRTQ_F_WRITE, 0 };
    }
    (void)mmio_read8(dev.isr);      /* clear it */
    offer(0);
    fw_deadline_start(&d, WAIT_SECS);
    while (!(fw_virtio_status(&dev) & VIRTIO_S_NEEDS_RESET))
        CHECK(!fw_deadline_passed(&d));
    CHECK(!(fw_virtio_status(&dev) & VIRTIO_S_FAILED));
    CHECK(mmio_read8(dev.isr) & 2);                         /* configuration change */
    CHECK(mmio_read8(dev.common + VIRTIO_COMMON_CFGGEN) != gen);
    CHECK(fw_virtq_used_idx(&dev) == 0);
    /* Still broken after another notify, until the driver resets it. */
    fw_virtq_notify(&dev);
    CHECK(fw_virtio_status(&dev) & VIRTIO_S_NEEDS_RESET);
    CHECK(fw_virtq_used_idx(&dev) == 0);
}

void payload_main(void)
{
    const char *mode = fw_param("mode");

    if (!mode)
        mode = "loop";
    CHECK(fw_virtio_find(&dev, PCI_DEVICE_RNG));
    check_pci_cfg_window();

    fw_virtio_init(&dev, QSIZE, RING);
    if (strcmp(mode, "loop") == 0 || strcmp(mode, "outside") == 0) {
        request_broken(strcmp(mode, "loop") == 0);
        fw_puts("virtio_loop: device needs reset\n");
        fw_virtio_init(&dev, QSIZE, RING);      /* the reset clears the failure */
    } else {
        CHECK(strcmp(mode, "valid") == 0);
    }
    request_valid();
    REPORT_OK();
}
