/* ACPI fixed hardware: PM1a event and control blocks, the PM timer and
 * the FADT reset register.  Sleep type 5 (the DSDT's \_S5) powers the VM
 * off; the reset register restarts it.  i8042 is absent (the FADT says
 * so), but its 0xFE pulse on port 0x64 is still honoured as a reset. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boot/layout.h"
#include "devices/acpi_pm.h"
#include "devices/bus.h"
#include "devices/device.h"
#include "util/log.h"
#include "vm.h"

#define PM1_STS_TMR     0x0001
#define PM1_STS_PWRBTN  0x0100
#define PM1_STS_WAK     0x8000
#define PM1_CNT_SCI_EN  0x0001
#define PM1_CNT_SLP_EN  0x2000
#define PM1_SLP_TYP(v)  (((v) >> 10) & 7)
#define SLP_TYP_S5      5
#define PM_TIMER_HZ     3579545ULL

struct acpi_pm {
    struct vm *vm;
    pthread_mutex_t lock;
    uint16_t sts, en, cnt;
    int sci_level;
};

static struct acpi_pm *pm_instance_of(struct vm *vm);

static void pm_update_sci(struct acpi_pm *pm)
{
    int level = (pm->sts & pm->en) != 0;

    if (level != pm->sci_level) {
        pm->sci_level = level;
        if (vm_irq_line(pm->vm, ACPI_SCI_IRQ, level))
            log_debug("acpi: cannot set SCI");
    }
}

static uint32_t pm_timer_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((ts.tv_sec * PM_TIMER_HZ) + (ts.tv_nsec * PM_TIMER_HZ) / 1000000000ULL);
}

static void put_le(uint8_t *data, unsigned len, uint32_t v)
{
    for (unsigned i = 0; i < len; i++)
        data[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le(const uint8_t *data, unsigned len)
{
    uint32_t v = 0;

    for (unsigned i = 0; i < len && i < 4; i++)
        v |= (uint32_t)data[i] << (8 * i);
    return v;
}

/* Registers are byte addressed; a wider access covers the next ones. */
static uint8_t pm_read_byte(struct acpi_pm *pm, uint64_t off)
{
    uint32_t tmr;

    switch (off) {
    case 0: return pm->sts & 0xff;
    case 1: return pm->sts >> 8;
    case 2: return pm->en & 0xff;
    case 3: return pm->en >> 8;
    case 4: return (pm->cnt | PM1_CNT_SCI_EN) & 0xff;  /* always in ACPI mode */
    case 5: return pm->cnt >> 8;
    case 8: case 9: case 10: case 11:
        tmr = pm_timer_now() & 0xffffff;    /* 24-bit timer */
        return (uint8_t)(tmr >> (8 * (off - 8)));
    default: return 0;
    }
}

static void pm_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
    struct acpi_pm *pm = opaque;

    pthread_mutex_lock(&pm->lock);
    if (off == 8 && len == 4) {
        put_le(data, 4, pm_timer_now() & 0xffffff);  /* one consistent sample */
    } else {
        for (unsigned i = 0; i < len; i++)
            data[i] = pm_read_byte(pm, off + i);
    }
    pthread_mutex_unlock(&pm->lock);
}

static void pm_write_cnt(struct acpi_pm *pm, uint16_t v)
{
    pm->cnt = v & ~PM1_CNT_SLP_EN;
    if ((v & PM1_CNT_SLP_EN) && PM1_SLP_TYP(v) == SLP_TYP_S5)
        vm_request_stop(pm->vm, VM_STOP_POWEROFF, 0, "guest powered off");
}

static void pm_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
    struct acpi_pm *pm = opaque;
    uint32_t v = get_le(data, len);

    pthread_mutex_lock(&pm->lock);
    if (off == 0 && len >= 2) {
        pm->sts &= ~(uint16_t)v;            /* write one to clear */
        if (len == 4)
            pm->en = v >> 16;
    } else if (off == 0) {
        pm->sts &= ~(uint16_t)v;
    } else if (off == 2) {
        pm->en = (uint16_t)v;
    } else if (off == 4 && len >= 2) {
        pm_write_cnt(pm, (uint16_t)v);
    } else if (off == 5) {
        pm_write_cnt(pm, (uint16_t)((v << 8) | (pm->cnt & 0xff)));
    } else if (off == PORT_ACPI_RESET - PORT_ACPI_PM1A_EVT && (v & 0xff) == ACPI_RESET_VALUE) {
        vm_request_stop(pm->vm, VM_STOP_REBOOT, 0, "guest requested a reset");
    }
    pm_update_sci(pm);
    pthread_mutex_unlock(&pm->lock);
}

static const struct bus_ops pm_ops = { .read = pm_read, .write = pm_write };

static void i8042_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
    struct acpi_pm *pm = opaque;

    if (data[0] == 0xfe)    /* pulse the reset line */
        vm_request_stop(pm->vm, VM_STOP_REBOOT, 0, "guest requested a reset (i8042)");
}

static void i8042_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
    memset(data, 0, len);   /* no data, input buffer empty */
}

static const struct bus_ops i8042_ops = { .read = i8042_read, .write = i8042_write };

void acpi_pm_power_button(struct vm *vm)
{
    struct acpi_pm *pm = pm_instance_of(vm);

    if (!pm)
        return;
    pthread_mutex_lock(&pm->lock);
    pm->sts |= PM1_STS_PWRBTN;
    pm_update_sci(pm);
    pthread_mutex_unlock(&pm->lock);
}

/* One PM block per VM; the table maps a VM to its instance. */
#define PM_MAX_VMS 64
static struct { struct vm *vm; struct acpi_pm *pm; } pm_table[PM_MAX_VMS];
static pthread_mutex_t pm_table_lock = PTHREAD_MUTEX_INITIALIZER;

static struct acpi_pm *pm_instance_of(struct vm *vm)
{
    struct acpi_pm *pm = NULL;

    pthread_mutex_lock(&pm_table_lock);
    for (int i = 0; i < PM_MAX_VMS; i++)
        if (pm_table[i].vm == vm)
            pm = pm_table[i].pm;
    pthread_mutex_unlock(&pm_table_lock);
    return pm;
}

static void pm_table_set(struct vm *vm, struct acpi_pm *pm, struct acpi_pm *match)
{
    pthread_mutex_lock(&pm_table_lock);
    for (int i = 0; i < PM_MAX_VMS; i++) {
        if (pm_table[i].pm == match) {
            pm_table[i].vm = vm;
            pm_table[i].pm = pm;
            break;
        }
    }
    pthread_mutex_unlock(&pm_table_lock);
}

static int pm_create(struct vm *vm, void **state)
{
    struct acpi_pm *pm = calloc(1, sizeof(*pm));
    int ret;

    if (!pm)
        return -ENOMEM;
    pm->vm = vm;
    pthread_mutex_init(&pm->lock, NULL);
    ret = bus_register(vm_pio_bus(vm), PORT_ACPI_PM1A_EVT, 16, &pm_ops, pm, "acpi-pm");
    if (!ret)
        ret = bus_register(vm_pio_bus(vm), PORT_I8042_DATA, 1, &i8042_ops, pm, "i8042-data");
    if (!ret)
        ret = bus_register(vm_pio_bus(vm), PORT_I8042_CMD, 1, &i8042_ops, pm, "i8042-cmd");
    if (ret) {
        free(pm);
        return ret;
    }
    pm_table_set(vm, pm, NULL);
    *state = pm;
    return 0;
}

static void pm_destroy(void *state)
{
    struct acpi_pm *pm = state;

    pm_table_set(NULL, NULL, pm);
    pthread_mutex_destroy(&pm->lock);
    free(pm);
}

static const struct device_desc acpi_pm_device = {
    .name = "acpi-pm", .create = pm_create, .destroy = pm_destroy,
};
DEVICE_REGISTER(acpi_pm_device);
