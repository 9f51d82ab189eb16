/* 8250/16550A UART on COM1 with interrupts.  Output goes to the console
 * the spec names; input comes from stdin through the VM's I/O thread. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "boot/layout.h"
#include "devices/bus.h"
#include "devices/console.h"
#include "devices/device.h"
#include "spec.h"
#include "util/evloop.h"
#include "util/log.h"
#include "vm.h"

#define UART_RBR 0  /* DLAB=0 read */
#define UART_THR 0  /* DLAB=0 write */
#define UART_IER 1
#define UART_IIR 2  /* read */
#define UART_FCR 2  /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI  0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI  0x04
#define IIR_FIFO 0xc0
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_DR   0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_DCD_DSR_CTS 0xb0

#define RX_FIFO 64

struct serial {
    struct vm *vm;
    pthread_mutex_t lock;
    uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
    bool thr_irq_pending;   /* THR empty interrupt not yet acknowledged */
    uint8_t rx[RX_FIFO];
    unsigned rx_head, rx_count;
    int out_fd;
    bool out_owned;
    int in_fd;
    int line;               /* current level of IRQ 4 */
};

static uint8_t serial_iir(const struct serial *s)
{
    if ((s->ier & IER_RDI) && s->rx_count)
        return IIR_RDI | IIR_FIFO;
    if ((s->ier & IER_THRI) && s->thr_irq_pending)
        return IIR_THRI | IIR_FIFO;
    return IIR_NONE | IIR_FIFO;
}

static void serial_update_irq(struct serial *s)
{
    int level = !(serial_iir(s) & IIR_NONE);

    if (level == s->line)
        return;
    s->line = level;
    if (vm_irq_line(s->vm, IRQ_COM1, level))
        log_debug("serial: cannot set IRQ %d", IRQ_COM1);
}

static void serial_emit(struct serial *s, uint8_t c)
{
    if (s->mcr & MCR_LOOP) {
        if (s->rx_count < RX_FIFO)
            s->rx[(s->rx_head + s->rx_count++) % RX_FIFO] = c;
        return;
    }
    if (s->out_fd >= 0)
        console_write(s->out_fd, &c, 1);
    vm_console_copy(s->vm, &c, 1);
}

static void serial_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
    struct serial *s = opaque;
    uint8_t v = data[0];

    pthread_mutex_lock(&s->lock);
    switch (off) {
    case UART_THR:
        if (s->lcr & LCR_DLAB) {
            s->dll = v;
            break;
        }
        serial_emit(s, v);
        s->thr_irq_pending = true;   /* transmitted at once: THR empty again */
        break;
    case UART_IER:
        if (s->lcr & LCR_DLAB) {
            s->dlm = v;
            break;
        }
        /* Enabling THRI with an empty THR raises the interrupt at once. */
        if (!(s->ier & IER_THRI) && (v & IER_THRI))
            s->thr_irq_pending = true;
        s->ier = v & 0x0f;
        break;
    case UART_FCR:
        s->fcr = v;
        if (v & 0x02)
            s->rx_count = 0;
        break;
    case UART_LCR: s->lcr = v; break;
    case UART_MCR: s->mcr = v; break;
    case UART_SCR: s->scr = v; break;
    default: break;
    }
    serial_update_irq(s);
    pthread_mutex_unlock(&s->lock);
}

static uint8_t serial_read_reg(struct serial *s, uint64_t off)
{
    uint8_t v = 0;

    switch (off) {
    case UART_RBR:
        if (s->lcr & LCR_DLAB)
            return s->dll;
        if (s->rx_count) {
            v = s->rx[s->rx_head];
            s->rx_head = (s->rx_head + 1) % RX_FIFO;
            s->rx_count--;
        }
        return v;
    case UART_IER:
        return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
    case UART_IIR:
        v = serial_iir(s);
        if ((v & 0x0f) == IIR_THRI)
            s->thr_irq_pending = false;   /* reading IIR acknowledges THRI */
        return v;
    case UART_LCR: return s->lcr;
    case UART_MCR: return s->mcr;
    case UART_LSR: return LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0);
    case UART_MSR: return (s->mcr & MCR_LOOP) ? 0 : MSR_DCD_DSR_CTS;
    case UART_SCR: return s->scr;
    default: return 0xff;
    }
}

static void serial_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
    struct serial *s = opaque;

    pthread_mutex_lock(&s->lock);
    data[0] = serial_read_reg(s, off);
    for (unsigned i = 1; i < len; i++)
        data[i] = 0;
    serial_update_irq(s);
    pthread_mutex_unlock(&s->lock);
}

static const struct bus_ops serial_ops = { .read = serial_read, .write = serial_write };

/* stdin is readable: move what fits into the receive FIFO. */
static void serial_input(void *opaque, uint32_t events)
{
    struct serial *s = opaque;
    uint8_t buf[RX_FIFO];
    ssize_t n;

    pthread_mutex_lock(&s->lock);
    n = RX_FIFO - s->rx_count;
    pthread_mutex_unlock(&s->lock);
    if (n == 0) {
        usleep(1000);   /* guest is not draining: let it catch up */
        return;
    }
    n = read(s->in_fd, buf, n);
    if (n <= 0) {
        /* EOF or error on stdin: stop watching it, keep the guest running */
        evloop_del_fd(vm_evloop(s->vm), s->in_fd);
        return;
    }
    n = console_filter_input(s->vm, buf, n);
    pthread_mutex_lock(&s->lock);
    for (ssize_t i = 0; i < n && s->rx_count < RX_FIFO; i++)
        s->rx[(s->rx_head + s->rx_count++) % RX_FIFO] = buf[i];
    serial_update_irq(s);
    pthread_mutex_unlock(&s->lock);
}

static int serial_open_output(struct serial *s, const struct vm_spec *spec)
{
    char err[200];

    switch (spec->console) {
    case CONSOLE_STDIO:
        s->out_fd = STDOUT_FILENO;
        return 0;
    case CONSOLE_FILE:
        s->out_fd = console_file_open(spec->console_path, O_TRUNC, 0644, err, sizeof(err));
        if (s->out_fd < 0) {
            vm_device_error(s->vm, "console: %s", err);
            return s->out_fd;
        }
        s->out_owned = true;
        return 0;
    default:
        s->out_fd = -1;
        return 0;
    }
}

static int serial_create(struct vm *vm, void **state)
{
    struct serial *s = calloc(1, sizeof(*s));
    const struct vm_spec *spec = vm_spec(vm);
    int ret;

    if (!s)
        return -ENOMEM;
    s->vm = vm;
    s->in_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    ret = serial_open_output(s, spec);
    if (ret)
        goto out_free;
    ret = bus_register(vm_pio_bus(vm), PORT_COM1, 8, &serial_ops, s, "com1");
    if (ret)
        goto out_close;
    if (spec->console == CONSOLE_STDIO && console_claim_stdin()) {
        s->in_fd = STDIN_FILENO;
        if (evloop_add_fd(vm_evloop(vm), s->in_fd, EPOLLIN, serial_input, s))
            s->in_fd = -1;
    }
    *state = s;
    return 0;

out_close:
    if (s->out_owned)
        close(s->out_fd);
out_free:
    free(s);
    return ret;
}

static void serial_destroy(void *state)
{
    struct serial *s = state;

    if (s->in_fd >= 0)
        console_release_stdin();
    if (s->out_owned)
        close(s->out_fd);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const struct device_desc serial_device = {
    .name = "serial", .create = serial_create, .destroy = serial_destroy,
};
DEVICE_REGISTER(serial_device);
