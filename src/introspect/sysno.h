/* x86-64 Linux system call numbers and names, generated at build time
 * from the system's <asm/unistd_64.h> (build/gen/syscalls.h). */
#ifndef KVMM_INTROSPECT_SYSNO_H
#define KVMM_INTROSPECT_SYSNO_H

#include <stdint.h>

/* One more than the highest known number. */
unsigned syscall_limit(void);
/* "execve" for 59; NULL for a number without a name. */
const char *syscall_name(uint64_t nr);
/* 59 for "execve"; -1 when unknown. */
int syscall_number(const char *name);

#endif
