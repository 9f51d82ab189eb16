/* MC146818 CMOS RTC: the guest reads the host's current UTC time, so its
 * clock shows today's date.  Writes to the time registers are ignored. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boot/layout.h"
#include "devices/bus.h"
#include "devices/device.h"
#include "vm.h"

#define RTC_SECONDS   0x00
#define RTC_MINUTES   0x02
#define RTC_HOURS     0x04
#define RTC_WEEKDAY   0x06
#define RTC_DAY       0x07
#define RTC_MONTH     0x08
#define RTC_YEAR      0x09
#define RTC_REG_A     0x0a
#define RTC_REG_B     0x0b
#define RTC_REG_C     0x0c
#define RTC_REG_D     0x0d
#define RTC_CENTURY   0x32

#define REG_B_24H     0x02
#define REG_B_BINARY  0x04
#define REG_D_VRT     0x80

struct rtc {
    pthread_mutex_t lock;
    uint8_t index;
    uint8_t cmos[128];
};

static uint8_t to_bcd(unsigned v)
{
    return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static uint8_t rtc_time_field(const struct rtc *r, unsigned v)
{
    return (r->cmos[RTC_REG_B] & REG_B_BINARY) ? (uint8_t)v : to_bcd(v);
}

static uint8_t rtc_read_reg(struct rtc *r, uint8_t idx)
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    switch (idx) {
    case RTC_SECONDS: return rtc_time_field(r, tm.tm_sec);
    case RTC_MINUTES: return rtc_time_field(r, tm.tm_min);
    case RTC_HOURS:   return rtc_time_field(r, tm.tm_hour);
    case RTC_WEEKDAY: return rtc_time_field(r, tm.tm_wday + 1);
    case RTC_DAY:     return rtc_time_field(r, tm.tm_mday);
    case RTC_MONTH:   return rtc_time_field(r, tm.tm_mon + 1);
    case RTC_YEAR:    return rtc_time_field(r, tm.tm_year % 100);
    case RTC_CENTURY: return rtc_time_field(r, (tm.tm_year + 1900) / 100);
    case RTC_REG_A:   return 0x26;          /* 32.768 kHz, no update in progress */
    case RTC_REG_C:   return 0;             /* no interrupt flags */
    case RTC_REG_D:   return REG_D_VRT;     /* battery good */
    default:          return r->cmos[idx];
    }
}

static void rtc_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
    struct rtc *r = opaque;

    memset(data, 0, len);
    pthread_mutex_lock(&r->lock);
    data[0] = off == 0 ? r->index : rtc_read_reg(r, r->index);
    pthread_mutex_unlock(&r->lock);
}

static void rtc_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
    struct rtc *r = opaque;

    pthread_mutex_lock(&r->lock);
    if (off == 0) {
        r->index = data[0] & 0x7f;  /* bit 7 is the NMI mask */
    } else if (r->index == RTC_REG_B) {
        /* keep the data format the guest chose; no alarms or periodic IRQs */
        r->cmos[RTC_REG_B] = data[0] & (REG_B_24H | REG_B_BINARY);
    } else if (r->index > RTC_REG_D && r->index != RTC_CENTURY) {
        r->cmos[r->index] = data[0];   /* plain CMOS RAM */
    }
    pthread_mutex_unlock(&r->lock);
}

static const struct bus_ops rtc_ops = { .read = rtc_read, .write = rtc_write };

static int rtc_create(struct vm *vm, void **state)
{
    struct rtc *r = calloc(1, sizeof(*r));
    int ret;

    if (!r)
        return -ENOMEM;
    pthread_mutex_init(&r->lock, NULL);
    r->cmos[RTC_REG_B] = REG_B_24H;
    ret = bus_register(vm_pio_bus(vm), PORT_CMOS, 2, &rtc_ops, r, "cmos");
    if (ret) {
        free(r);
        return ret;
    }
    *state = r;
    return 0;
}

static void rtc_destroy(void *state)
{
    struct rtc *r = state;

    pthread_mutex_destroy(&r->lock);
    free(r);
}

static const struct device_desc rtc_device = {
    .name = "rtc", .create = rtc_create, .destroy = rtc_destroy,
};
DEVICE_REGISTER(rtc_device);
