#include "devices/console.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
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
