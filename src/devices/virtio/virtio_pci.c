/* Modern virtio-PCI transport (virtio 1.2, 4.1).  BAR 0 holds the common
 * configuration, ISR, device configuration and notification areas.  With
 * KVMM_PIO_NOTIFY=1, BAR 2 is a small I/O-space BAR with a second
 * notification area, offered first, so drivers that take the first
 * notify capability (Linux) kick with an OUT instruction: KVM handles
 * that exit without decoding the instruction, which an MMIO write needs
 * on AMD hosts.  The PCI module places the BARs and the MSI-X BAR. */
#include "devices/virtio/virtio.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/bus.h"
#include "devices/pci.h"
#include "devices/virtio/virtq.h"
#include "kvm.h"
#include "util/evloop.h"
#include "util/log.h"
#include "vm.h"

#define VIRTIO_PCI_VENDOR     0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040
#define VIRTIO_PCI_SUBSYS_ID  0x1100
#define VIRTIO_MSI_NO_VECTOR  0xffff

#define VIRTIO_PCI_CAP_COMMON 1
#define VIRTIO_PCI_CAP_NOTIFY 2
#define VIRTIO_PCI_CAP_ISR    3
#define VIRTIO_PCI_CAP_DEVICE 4
#define VIRTIO_PCI_CAP_PCI_CFG 5
#define PCI_CAP_ID_VNDR       0x09

/* BAR 0 layout */
#define BAR0_COMMON     0x0000
#define BAR0_ISR        0x1000
#define BAR0_DEVICE     0x2000
#define BAR0_NOTIFY     0x3000
#define BAR0_SIZE       0x4000
#define COMMON_SIZE     0x38
#define NOTIFY_MULT     4
/* BAR 2, in I/O space: one 16-bit notify port per queue */
#define PIO_BAR         2
#define PIO_NOTIFY_MULT 2
#define PIO_BAR_SIZE    (PIO_NOTIFY_MULT * VIRTIO_MAX_QUEUES)
#define AREA_SIZE       0x1000

#define ISR_QUEUE       0x1
#define ISR_CONFIG      0x2

struct virtio_pci_cap {
    uint8_t cap_vndr, cap_next, cap_len, cfg_type, bar, id, padding[2];
    uint32_t offset, length;
};
_Static_assert(sizeof(struct virtio_pci_cap) == 16, "virtio_pci_cap layout");

struct virtio_pci_notify_cap {
    struct virtio_pci_cap cap;
    uint32_t notify_off_multiplier;
};
_Static_assert(sizeof(struct virtio_pci_notify_cap) == 20, "virtio_pci_notify_cap layout");

/* The PCI configuration access window (virtio 1.2, 4.1.4.9): the driver
 * sets bar, offset and length, then reads or writes data to access the
 * BAR through config space. */
struct virtio_pci_cfg_cap {
    struct virtio_pci_cap cap;
    uint8_t data[4];
};
_Static_assert(sizeof(struct virtio_pci_cfg_cap) == 20, "virtio_pci_cfg_cap layout");

struct vq_state {
    struct virtio_dev *vdev;
    unsigned index;
    struct virtq vq;
    uint16_t size, msix;
    bool enabled;
    uint64_t desc, driver, device;
    int kickfd;
    bool ioeventfd;
};

struct virtio_dev {
    struct vm *vm;
    const struct virtio_dev_ops *ops;
    void *dev;
    struct pci_dev *pci;
    pthread_mutex_t lock;
    uint32_t dfeat_sel, gfeat_sel;
    uint64_t host_features, guest_features;
    uint16_t config_msix, queue_sel;
    uint8_t status, config_gen;
    uint8_t isr;            /* atomic: read-to-clear by the driver */
    bool broken;
    struct virtio_pci_cfg_cap cfg_win;  /* under lock */
    bool pio_notify;        /* BAR 2 notify ports (KVMM_PIO_NOTIFY=1) */
    uint64_t kicks, interrupts;
    struct vq_state q[VIRTIO_MAX_QUEUES];
};

struct virtq *virtio_queue(struct virtio_dev *vdev, unsigned q)
{
    return q < vdev->ops->nqueues ? &vdev->q[q].vq : NULL;
}

bool virtio_has_feature(const struct virtio_dev *vdev, unsigned bit)
{
    return vdev->guest_features & (1ULL << bit);
}

void virtio_dev_lock(struct virtio_dev *vdev) { pthread_mutex_lock(&vdev->lock); }
void virtio_dev_unlock(struct virtio_dev *vdev) { pthread_mutex_unlock(&vdev->lock); }
struct vm *virtio_dev_vm(const struct virtio_dev *vdev) { return vdev->vm; }
bool virtio_dev_broken(const struct virtio_dev *vdev) { return vdev->broken; }

void virtio_dev_transport_counters(const struct virtio_dev *vdev, uint64_t *kicks,
                                   uint64_t *interrupts)
{
    *kicks = __atomic_load_n(&vdev->kicks, __ATOMIC_RELAXED);
    *interrupts = __atomic_load_n(&vdev->interrupts, __ATOMIC_RELAXED);
}

static void virtio_raise(struct virtio_dev *vdev, uint8_t isr, uint16_t vec)
{
    __atomic_fetch_or(&vdev->isr, isr, __ATOMIC_SEQ_CST);
    if (vec == VIRTIO_MSI_NO_VECTOR)
        return;
    if (pci_msix_notify(vdev->pci, vec) == 0)
        __atomic_fetch_add(&vdev->interrupts, 1, __ATOMIC_RELAXED);
}

int virtio_queue_dest(const struct virtio_dev *vdev, unsigned q)
{
    uint16_t vec = vdev->q[q].msix;

    return vec == VIRTIO_MSI_NO_VECTOR ? -1 : pci_msix_dest(vdev->pci, vec);
}

void virtio_queue_interrupt(struct virtio_dev *vdev, unsigned q)
{
    virtio_raise(vdev, ISR_QUEUE, vdev->q[q].msix);
}

void virtio_dev_fail(struct virtio_dev *vdev, const char *fmt, ...)
{
    char msg[160];
    va_list ap;

    if (vdev->broken)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_warn("%s: virtio-%s: %s; device needs reset", vm_name(vdev->vm), vdev->ops->name, msg);
    vdev->broken = true;
    vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
    vdev->config_gen++;
    virtio_raise(vdev, ISR_CONFIG, vdev->config_msix);
}

/* ---- queues -------------------------------------------------------------- */

static void vq_kick(struct vq_state *q)
{
    struct virtio_dev *vdev = q->vdev;

    if (q->enabled && !vdev->broken && (vdev->status & VIRTIO_STATUS_DRIVER_OK))
        vdev->ops->queue_kick(vdev->dev, q->index);
}

static void vq_kick_event(void *opaque, uint32_t events)
{
    struct vq_state *q = opaque;
    uint64_t n;

    if (read(q->kickfd, &n, sizeof(n)) != sizeof(n))
        return;
    __atomic_fetch_add(&q->vdev->kicks, n, __ATOMIC_RELAXED);
    virtio_dev_lock(q->vdev);
    vq_kick(q);
    virtio_dev_unlock(q->vdev);
}

static void vq_poke(struct vq_state *q)
{
    uint64_t one = 1;

    if (write(q->kickfd, &one, sizeof(one)) != sizeof(one))
        log_debug("virtio: kick eventfd write failed");
}

static void vq_enable(struct virtio_dev *vdev, struct vq_state *q)
{
    int ret;

    if (q->enabled)
        return;
    if (q->size > vdev->ops->queue_size) {
        virtio_dev_fail(vdev, "queue %u: size %u above the maximum %u", q->index, q->size,
                        vdev->ops->queue_size);
        return;
    }
    ret = virtq_setup(&q->vq, vm_mem(vdev->vm), q->size, q->desc, q->driver, q->device,
                      virtio_has_feature(vdev, VIRTIO_F_EVENT_IDX),
                      virtio_has_feature(vdev, VIRTIO_F_INDIRECT_DESC));
    if (ret) {
        virtio_dev_fail(vdev, "queue %u: rings not in guest RAM or misaligned", q->index);
        return;
    }
    q->enabled = true;
}

static void vq_reset(struct virtio_dev *vdev, struct vq_state *q)
{
    virtq_reset(&q->vq);
    q->enabled = false;
    q->size = vdev->ops->queue_size;
    q->msix = VIRTIO_MSI_NO_VECTOR;
    q->desc = q->driver = q->device = 0;
}

static void virtio_reset(struct virtio_dev *vdev)
{
    if (vdev->ops->reset)
        vdev->ops->reset(vdev->dev);
    for (unsigned i = 0; i < vdev->ops->nqueues; i++)
        vq_reset(vdev, &vdev->q[i]);
    vdev->dfeat_sel = vdev->gfeat_sel = 0;
    vdev->guest_features = 0;
    vdev->config_msix = VIRTIO_MSI_NO_VECTOR;
    vdev->queue_sel = 0;
    vdev->status = 0;
    vdev->broken = false;
    __atomic_store_n(&vdev->isr, 0, __ATOMIC_SEQ_CST);
}

/* ---- common configuration ------------------------------------------------- */

static void put_le(uint8_t *p, unsigned len, uint64_t v)
{
    for (unsigned i = 0; i < len; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned len)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < len && i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void common_image(struct virtio_dev *vdev, uint8_t img[COMMON_SIZE])
{
    struct vq_state *q = vdev->queue_sel < vdev->ops->nqueues ? &vdev->q[vdev->queue_sel] : NULL;

    memset(img, 0, COMMON_SIZE);
    put_le(img + 0x00, 4, vdev->dfeat_sel);
    if (vdev->dfeat_sel < 2)
        put_le(img + 0x04, 4, vdev->host_features >> (32 * vdev->dfeat_sel));
    put_le(img + 0x08, 4, vdev->gfeat_sel);
    if (vdev->gfeat_sel < 2)
        put_le(img + 0x0c, 4, vdev->guest_features >> (32 * vdev->gfeat_sel));
    put_le(img + 0x10, 2, vdev->config_msix);
    put_le(img + 0x12, 2, vdev->ops->nqueues);
    img[0x14] = vdev->status;
    img[0x15] = vdev->config_gen;
    put_le(img + 0x16, 2, vdev->queue_sel);
    if (!q)
        return;
    put_le(img + 0x18, 2, q->size);
    put_le(img + 0x1a, 2, q->msix);
    put_le(img + 0x1c, 2, q->enabled);
    put_le(img + 0x1e, 2, q->index);       /* queue_notify_off */
    put_le(img + 0x20, 8, q->desc);
    put_le(img + 0x28, 8, q->driver);
    put_le(img + 0x30, 8, q->device);
}

static uint16_t msix_vector_check(struct virtio_dev *vdev, uint16_t v)
{
    return v <= vdev->ops->nqueues ? v : VIRTIO_MSI_NO_VECTOR;
}

static void status_write(struct virtio_dev *vdev, uint8_t v)
{
    uint8_t old = vdev->status;
    uint64_t must = 1ULL << VIRTIO_F_VERSION_1;

    if (v == 0) {
        virtio_reset(vdev);
        return;
    }
    if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK) &&
        ((vdev->guest_features & ~vdev->host_features) || !(vdev->guest_features & must)))
        v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;   /* the driver reads it back */
    vdev->status = (uint8_t)(v | (vdev->broken ? VIRTIO_STATUS_NEEDS_RESET : 0));
    if ((v & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK))
        for (unsigned i = 0; i < vdev->ops->nqueues; i++)
            if (vdev->q[i].enabled)
                vq_poke(&vdev->q[i]);   /* buffers queued before DRIVER_OK */
}

static void queue_addr_write(uint64_t *field, unsigned half, unsigned len, uint64_t v)
{
    if (len == 8)
        *field = v;
    else if (half)
        *field = (*field & 0xffffffffULL) | (v << 32);
    else
        *field = (*field & ~0xffffffffULL) | (v & 0xffffffffULL);
}

static void queue_write(struct virtio_dev *vdev, struct vq_state *q, uint64_t off, unsigned len,
                        uint64_t v)
{
    if (off == 0x1a && len == 2) {
        q->msix = msix_vector_check(vdev, (uint16_t)v);
        return;
    }
    if (off == 0x1c && len == 2) {
        if (v == 1)
            vq_enable(vdev, q);
        return;
    }
    if (q->enabled)
        return;     /* the rest is fixed while the queue runs */
    if (off == 0x18 && len == 2)
        q->size = (uint16_t)v;
    else if (off >= 0x20 && off < 0x38 && (len == 4 || len == 8) && !(off & 3))
        queue_addr_write(off < 0x28 ? &q->desc : off < 0x30 ? &q->driver : &q->device,
                         (off & 4) != 0, len, v);
}

static void common_write(struct virtio_dev *vdev, uint64_t off, unsigned len, uint64_t v)
{
    struct vq_state *q = vdev->queue_sel < vdev->ops->nqueues ? &vdev->q[vdev->queue_sel] : NULL;

    if (off == 0x00 && len == 4) {
        vdev->dfeat_sel = (uint32_t)v;
    } else if (off == 0x08 && len == 4) {
        vdev->gfeat_sel = (uint32_t)v;
    } else if (off == 0x0c && len == 4) {
        if (vdev->gfeat_sel < 2 && !(vdev->status & VIRTIO_STATUS_FEATURES_OK)) {
            unsigned sh = 32 * vdev->gfeat_sel;

            vdev->guest_features = (vdev->guest_features & ~(0xffffffffULL << sh)) | (v << sh);
        }
    } else if (off == 0x10 && len == 2) {
        vdev->config_msix = msix_vector_check(vdev, (uint16_t)v);
    } else if (off == 0x14 && len == 1) {
        status_write(vdev, (uint8_t)v);
    } else if (off == 0x16 && len == 2) {
        vdev->queue_sel = (uint16_t)v;
    } else if (q && off >= 0x18) {
        queue_write(vdev, q, off, len, v);
    }
}

/* ---- BAR 0 ---------------------------------------------------------------- */

static void bar0_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
    struct virtio_dev *vdev = opaque;
    uint8_t img[COMMON_SIZE];

    memset(data, 0, len);
    virtio_dev_lock(vdev);
    if (off < BAR0_COMMON + COMMON_SIZE && off + len <= COMMON_SIZE) {
        common_image(vdev, img);
        memcpy(data, img + off, len);
    } else if (off == BAR0_ISR) {
        data[0] = __atomic_exchange_n(&vdev->isr, 0, __ATOMIC_SEQ_CST);
    } else if (off >= BAR0_DEVICE && off + len <= BAR0_DEVICE + vdev->ops->config_size) {
        vdev->ops->config_read(vdev->dev, off - BAR0_DEVICE, data, len);
    }
    virtio_dev_unlock(vdev);
}

static void bar0_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
    struct virtio_dev *vdev = opaque;
    uint64_t v = get_le(data, len);

    if (off >= BAR0_NOTIFY) {
        /* A notify that did not hit the ioeventfd (other width, or no
         * ioeventfd support): hand it to the I/O thread the same way. */
        uint64_t qi = (off - BAR0_NOTIFY) / NOTIFY_MULT;

        if (qi < vdev->ops->nqueues)
            vq_poke(&vdev->q[qi]);
        return;
    }
    virtio_dev_lock(vdev);
    if (off + len <= COMMON_SIZE)
        common_write(vdev, off, len, v);
    else if (off >= BAR0_DEVICE && off + len <= BAR0_DEVICE + vdev->ops->config_size &&
             vdev->ops->config_write)
        vdev->ops->config_write(vdev->dev, off - BAR0_DEVICE, data, len);
    virtio_dev_unlock(vdev);
}

static const struct bus_ops bar0_ops = { .read = bar0_read, .write = bar0_write };

/* ---- BAR 2: notify ports ------------------------------------------------- */

static void pio_bar_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
    memset(data, 0, len);
}

/* A notify the ioeventfd did not take (other width, or no ioeventfd). */
static void pio_bar_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
    struct virtio_dev *vdev = opaque;
    uint64_t qi = off / PIO_NOTIFY_MULT;

    if (qi < vdev->ops->nqueues)
        vq_poke(&vdev->q[qi]);
}

static const struct bus_ops pio_bar_ops = { .read = pio_bar_read, .write = pio_bar_write };

/* ---- PCI configuration access window --------------------------------------- */

#define CFG_WIN_DATA offsetof(struct virtio_pci_cfg_cap, data)

/* The BAR 0 access the window describes; false when it is not one the
 * driver may make (only BAR 0 exists for it; length 1, 2 or 4, aligned,
 * inside the BAR). */
static bool cfg_win_target(const struct virtio_pci_cfg_cap *w, uint32_t *off, unsigned *len)
{
    uint32_t l = w->cap.length, o = w->cap.offset;

    if (w->cap.bar != 0 || (l != 1 && l != 2 && l != 4) || o % l || (uint64_t)o + l > BAR0_SIZE)
        return false;
    *off = o;
    *len = l;
    return true;
}

static bool overlaps_data(uint64_t off, unsigned len)
{
    return off < CFG_WIN_DATA + 4 && off + len > CFG_WIN_DATA;
}

static void cfg_win_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
    struct virtio_dev *vdev = opaque;
    uint8_t buf[4] = { 0 };
    uint32_t boff;
    unsigned blen;
    bool access;

    virtio_dev_lock(vdev);
    access = overlaps_data(off, len) && cfg_win_target(&vdev->cfg_win, &boff, &blen);
    virtio_dev_unlock(vdev);
    if (access)
        bar0_read(vdev, boff, buf, blen);   /* takes the lock itself */
    virtio_dev_lock(vdev);
    if (overlaps_data(off, len))
        memcpy(vdev->cfg_win.data, buf, sizeof(buf));
    if (off + len <= sizeof(vdev->cfg_win))
        memcpy(data, (uint8_t *)&vdev->cfg_win + off, len);
    virtio_dev_unlock(vdev);
}

static void cfg_win_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
    struct virtio_dev *vdev = opaque;
    uint8_t *img = (uint8_t *)&vdev->cfg_win, buf[4];
    uint32_t boff;
    unsigned blen;
    bool access;

    if (off + len > sizeof(vdev->cfg_win))
        return;
    virtio_dev_lock(vdev);
    for (unsigned i = 0; i < len; i++) {
        uint64_t o = off + i;

        /* bar, offset, length and data; the rest is read-only */
        if (o == offsetof(struct virtio_pci_cap, bar) ||
            o >= offsetof(struct virtio_pci_cap, offset))
            img[o] = data[i];
    }
    access = overlaps_data(off, len) && cfg_win_target(&vdev->cfg_win, &boff, &blen);
    memcpy(buf, vdev->cfg_win.data, sizeof(buf));
    virtio_dev_unlock(vdev);
    if (access)
        bar0_write(vdev, boff, buf, blen);
}

static const struct bus_ops cfg_win_ops = { .read = cfg_win_read, .write = cfg_win_write };

/* ---- creation -------------------------------------------------------------- */

static int virtio_caps_add(struct virtio_dev *vdev)
{
    static const struct { uint8_t type; uint32_t off, len; } areas[] = {
        { VIRTIO_PCI_CAP_COMMON, BAR0_COMMON, COMMON_SIZE },
        { VIRTIO_PCI_CAP_ISR, BAR0_ISR, 4 },
        { VIRTIO_PCI_CAP_DEVICE, BAR0_DEVICE, 0 },
    };
    struct virtio_pci_notify_cap n = {
        .cap = { .cap_vndr = PCI_CAP_ID_VNDR, .cap_len = sizeof(n),
                 .cfg_type = VIRTIO_PCI_CAP_NOTIFY, .bar = 0, .offset = BAR0_NOTIFY,
                 .length = NOTIFY_MULT * vdev->ops->nqueues },
        .notify_off_multiplier = NOTIFY_MULT,
    };
    struct virtio_pci_notify_cap np = {
        .cap = { .cap_vndr = PCI_CAP_ID_VNDR, .cap_len = sizeof(np),
                 .cfg_type = VIRTIO_PCI_CAP_NOTIFY, .bar = PIO_BAR, .offset = 0,
                 .length = PIO_NOTIFY_MULT * vdev->ops->nqueues },
        .notify_off_multiplier = PIO_NOTIFY_MULT,
    };
    int ret;

    /* The port area first: a driver uses the first notify capability it
     * can map; one that maps memory BARs only finds the one in BAR 0. */
    ret = vdev->pio_notify ? pci_cap_add(vdev->pci, &np, sizeof(np)) : 0;
    if (ret < 0)
        return ret;

    for (unsigned i = 0; i < ARRAY_SIZE(areas); i++) {
        struct virtio_pci_cap c = {
            .cap_vndr = PCI_CAP_ID_VNDR, .cap_len = sizeof(c), .cfg_type = areas[i].type,
            .bar = 0, .offset = areas[i].off,
            .length = areas[i].len ? areas[i].len : (uint32_t)vdev->ops->config_size,
        };

        if (areas[i].type == VIRTIO_PCI_CAP_DEVICE && !vdev->ops->config_size)
            continue;
        ret = pci_cap_add(vdev->pci, &c, sizeof(c));
        if (ret < 0)
            return ret;
    }
    ret = pci_cap_add(vdev->pci, &n, sizeof(n));
    if (ret < 0)
        return ret;
    vdev->cfg_win = (struct virtio_pci_cfg_cap){
        .cap = { .cap_vndr = PCI_CAP_ID_VNDR, .cap_len = sizeof(vdev->cfg_win),
                 .cfg_type = VIRTIO_PCI_CAP_PCI_CFG },
    };
    ret = pci_cap_add_served(vdev->pci, &vdev->cfg_win, sizeof(vdev->cfg_win), &cfg_win_ops,
                             vdev);
    return ret < 0 ? ret : 0;
}

/* Queue q's notify address in memory (port = false) or I/O space. */
static struct kvm_ioeventfd notify_ioeventfd(const struct virtio_dev *vdev, unsigned q, bool port)
{
    struct kvm_ioeventfd io = { .len = 2, .fd = vdev->q[q].kickfd };

    if (port) {
        io.addr = pci_bar_addr(vdev->pci, PIO_BAR) + PIO_NOTIFY_MULT * q;
        io.flags = KVM_IOEVENTFD_FLAG_PIO;
    } else {
        io.addr = pci_bar_addr(vdev->pci, 0) + BAR0_NOTIFY + NOTIFY_MULT * q;
    }
    return io;
}

/* One eventfd per queue: KVM signals it on a notify write to either
 * area (ioeventfd); the I/O thread waits on it. */
static int virtio_kickfds_setup(struct virtio_dev *vdev)
{
    int ret;

    for (unsigned i = 0; i < vdev->ops->nqueues; i++) {
        struct vq_state *q = &vdev->q[i];
        struct kvm_ioeventfd io;

        q->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (q->kickfd < 0)
            return -errno;
        io = notify_ioeventfd(vdev, i, false);
        ret = kvm_ioctl(vm_fd(vdev->vm), KVM_IOEVENTFD, &io);
        if (!ret && vdev->pio_notify) {
            io = notify_ioeventfd(vdev, i, true);
            ret = kvm_ioctl(vm_fd(vdev->vm), KVM_IOEVENTFD, &io);
            if (ret) {      /* both or neither: the exit path serves both */
                io = notify_ioeventfd(vdev, i, false);
                io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
                if (kvm_ioctl(vm_fd(vdev->vm), KVM_IOEVENTFD, &io))
                    log_debug("virtio: cannot remove ioeventfd");
            }
        }
        if (ret)
            log_debug("virtio-%s: no ioeventfd (%s): notifies exit to kvmm",
                      vdev->ops->name, strerror(-ret));
        q->ioeventfd = ret == 0;
        ret = evloop_add_fd(vm_evloop(vdev->vm), q->kickfd, EPOLLIN, vq_kick_event, q);
        if (ret)
            return ret;
    }
    return 0;
}

static int virtio_pci_setup(struct virtio_dev *vdev)
{
    const struct virtio_dev_ops *ops = vdev->ops;
    struct pci_dev_desc desc = {
        .name = ops->name, .vendor = VIRTIO_PCI_VENDOR,
        .device = (uint16_t)(VIRTIO_PCI_DEVICE_BASE + ops->device_id),
        .subsys_vendor = VIRTIO_PCI_VENDOR, .subsys_id = VIRTIO_PCI_SUBSYS_ID,
        .class_code = ops->class_code, .revision = 1,
        .bars[0] = { .size = BAR0_SIZE, .ops = &bar0_ops, .opaque = vdev },
        .msix_vectors = ops->nqueues + 1,
    };
    const char *pio = getenv("KVMM_PIO_NOTIFY");
    int ret;

    vdev->pio_notify = pio && !strcmp(pio, "1");
    if (vdev->pio_notify)
        desc.bars[PIO_BAR] = (struct pci_bar_desc){
            .size = PIO_BAR_SIZE, .io = true, .ops = &pio_bar_ops, .opaque = vdev };

    if (ops->nqueues == 0 || ops->nqueues > VIRTIO_MAX_QUEUES || ops->config_size > AREA_SIZE)
        return -EINVAL;
    ret = pci_dev_add(vm_pci(vdev->vm), &desc, &vdev->pci);
    if (!ret)
        ret = virtio_caps_add(vdev);
    if (!ret)
        ret = virtio_kickfds_setup(vdev);
    return ret;
}

int virtio_pci_create(struct vm *vm, const struct virtio_dev_ops *ops, void *dev,
                      struct virtio_dev **out)
{
    struct virtio_dev *vdev = calloc(1, sizeof(*vdev));
    int ret;

    if (!vdev)
        return -ENOMEM;
    vdev->vm = vm;
    vdev->ops = ops;
    vdev->dev = dev;
    vdev->host_features = ops->features | (1ULL << VIRTIO_F_VERSION_1) |
                          (1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX);
    pthread_mutex_init(&vdev->lock, NULL);
    for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
        vdev->q[i] = (struct vq_state){ .vdev = vdev, .index = i, .kickfd = -1 };
        vq_reset(vdev, &vdev->q[i]);
    }
    vdev->config_msix = VIRTIO_MSI_NO_VECTOR;
    ret = virtio_pci_setup(vdev);
    if (ret) {
        virtio_pci_destroy(vdev);
        return ret;
    }
    *out = vdev;
    return 0;
}

/* Runs after the I/O thread has stopped. */
void virtio_pci_destroy(struct virtio_dev *vdev)
{
    if (!vdev)
        return;
    for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
        struct vq_state *q = &vdev->q[i];

        if (q->kickfd < 0)
            continue;
        for (int port = 0; q->ioeventfd && port < 1 + vdev->pio_notify; port++) {
            struct kvm_ioeventfd io = notify_ioeventfd(vdev, i, port);

            io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
            if (kvm_ioctl(vm_fd(vdev->vm), KVM_IOEVENTFD, &io))
                log_debug("virtio: cannot remove ioeventfd");
        }
        if (evloop_del_fd(vm_evloop(vdev->vm), q->kickfd))
            log_debug("virtio: kick fd was not watched");
        close(q->kickfd);
    }
    pthread_mutex_destroy(&vdev->lock);
    free(vdev);
}
