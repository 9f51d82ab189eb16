/* The host side of the guest console: the terminal (raw mode while a
 * guest owns it), output writes and the Ctrl-A escape. */
#ifndef KVMM_DEVICES_CONSOLE_H
#define KVMM_DEVICES_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "types.h"

struct vm;

/* Only one VM of the process reads stdin; true for the first caller. */
bool console_claim_stdin(void);
void console_release_stdin(void);
/* Put a terminal stdin into raw mode; restored at exit. */
void console_tty_raw(void);
void console_tty_restore(void);
/* Write all of buf, retrying short writes. */
void console_write(int fd, const void *buf, size_t len);
/* Open path for console output (flags adds O_APPEND or O_TRUNC): a
 * regular file or a character device (a terminal, /dev/null), never
 * waiting on it.  Returns the fd, or -errno with a one-line reason in err
 * that names path. */
int console_file_open(const char *path, int flags, mode_t mode, char *err, size_t errlen) WUR;
/* Handle the escape (Ctrl-A x: stop the VM; Ctrl-A Ctrl-A: send one
 * Ctrl-A); returns how many bytes remain for the guest in buf. */
ssize_t console_filter_input(struct vm *vm, unsigned char *buf, ssize_t len);

#endif
