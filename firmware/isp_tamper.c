/* Introspection, tampering: after a first system call (kvmm measures the
 * text then), the payload changes a byte of its own text and points
 * LSTAR elsewhere.  kvmm reports both.  blocked=1: kvmm's on_tamper
 * "block" kept the old entry, so the next call still reaches it. */
#include "fw.h"
#include "isp_lib.h"

/* Code the payload rewrites: never called. */
__attribute__((noinline, used)) void isp_patch_target(void)
{
    __asm__ volatile("nop; nop; nop; nop");
}

void payload_main(void)
{
    volatile uint8_t *code = (volatile uint8_t *)(uintptr_t)isp_patch_target;
    uint64_t blocked = 0;

    CHECK(fw_param_u64("blocked", &blocked) >= 0);
    isp_syscall_setup((uint64_t)entry_SYSCALL_64);
    CHECK(isp_syscall(39, 0, 0) == 1039);
    CHECK(isp_last_handler == 1);
    code[0] ^= 0x01;    /* nop (90) becomes xchg %eax,%ecx (91): never run */
    wrmsr(MSR_LSTAR, (uint64_t)isp_other_entry);
    CHECK(isp_syscall(39, 0, 0) == 1039);
    CHECK(isp_last_handler == (blocked ? 1 : 2));
    CHECK(rdmsr(MSR_LSTAR) == (blocked ? (uint64_t)entry_SYSCALL_64 : (uint64_t)isp_other_entry));
    REPORT_OK();
}
