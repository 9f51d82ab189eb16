#include "devices/console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "vm.h"

#define CTRL_A 0x01

static atomic_bool stdin_claimed;
static bool tty_saved;
static struct termios tty_orig;
static bool escape_pending;

bool console_claim_stdin(void)
{
    bool expected = false;

    return atomic_compare_exchange_strong(&stdin_claimed, &expected, true);
}

void console_release_stdin(void)
{
    atomic_store(&stdin_claimed, false);
}

void console_tty_restore(void)
{
    if (tty_saved)
        tcsetattr(STDIN_FILENO, TCSANOW, &tty_orig);
}

void console_tty_raw(void)
{
    struct termios raw;

    if (tty_saved || !isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &tty_orig))
        return;
    tty_saved = true;
    raw = tty_orig;
    /* The guest's own line discipline does echo, editing and signals. */
    cfmakeraw(&raw);
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    atexit(console_tty_restore);
}

void console_write(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return;     /* console gone: the guest keeps running */
        }
        p += n;
        len -= n;
    }
}

static bool console_file_kind_ok(const struct stat *st)
{
    return S_ISREG(st->st_mode) || S_ISCHR(st->st_mode);
}

int console_file_open(const char *path, int flags, mode_t mode, char *err, size_t errlen)
{
    struct stat st;
    int fd, fl, ret;

    /* O_NONBLOCK: a FIFO would wait for a reader, forever. */
    fd = open(path, flags | O_WRONLY | O_CREAT | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, mode);
    if (fd < 0) {
        ret = -errno;
        /* ENXIO: a FIFO nobody reads, or a socket */
        if (ret == -ENXIO && !stat(path, &st) && !console_file_kind_ok(&st))
            goto out_kind;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(-ret));
        return ret;
    }
    if (fstat(fd, &st) < 0 || (fl = fcntl(fd, F_GETFL)) < 0)
        goto out_close;
    if (!console_file_kind_ok(&st)) {
        close(fd);
        ret = -EINVAL;
        goto out_kind;
    }
    if (fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        goto out_close;
    return fd;

out_close:
    ret = -errno;
    close(fd);
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(-ret));
    return ret;
out_kind:
    snprintf(err, errlen, "%s: not a regular file or character device", path);
    return ret;
}

ssize_t console_filter_input(struct vm *vm, unsigned char *buf, ssize_t len)
{
    ssize_t out = 0;

    for (ssize_t i = 0; i < len; i++) {
        unsigned char c = buf[i];

        if (escape_pending) {
            escape_pending = false;
            if (c == 'x' || c == 'X') {
                vm_request_stop(vm, VM_STOP_SIGNAL, 0, "stopped from the console (Ctrl-A x)");
                continue;
            }
            if (c != CTRL_A)
                continue;   /* unknown escape: swallow */
        } else if (c == CTRL_A && tty_saved) {
            escape_pending = true;
            continue;
        }
        buf[out++] = c;
    }
    return out;
}
