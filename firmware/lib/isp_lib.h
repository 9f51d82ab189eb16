/* Helpers for the introspection payloads (isp_*.c): a ring-0 system call
 * path.  The handlers count calls and return nr + 1000, or -ENOSYS for
 * number -1 (what kvmm makes of a call it denies at the entry). */
#ifndef FW_ISP_LIB_H
#define FW_ISP_LIB_H

#include <stdint.h>

#define MSR_EFER  0xc0000080u
#define MSR_STAR  0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_FMASK 0xc0000084u

extern volatile uint64_t isp_calls, isp_last_handler;
/* Two entries: the one a payload installs at boot, and another one. */
void entry_SYSCALL_64(void);
void isp_other_entry(void);

static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;

    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t)hi << 32 | lo;
}

static inline uint64_t isp_syscall(uint64_t nr, uint64_t a0, uint64_t a1)
{
    uint64_t ret;

    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a0), "S"(a1) : "rcx", "r11", "memory");
    return ret;
}

/* EFER.SCE, STAR (kernel CS = the current one), FMASK 0, LSTAR = entry. */
void isp_syscall_setup(uint64_t entry);

#endif
