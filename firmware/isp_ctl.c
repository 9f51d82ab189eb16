/* Introspection driven from the control socket (tests/ctl/qmp_test.py).
 * The VM starts in targeted mode with a policy that pauses at
 * "/bin/pause"; each pause is where the test talks to kvmm:
 *   1. targeted: execve "/bin/ok" (logged), "/bin/pause" -> paused; the
 *      test reads the counters, checks the text, replaces the policy
 *      (deny "/bin/denied*", audit all) and switches to full mode.
 *   2. full: `count` getpid calls and a denied execve trapped at the entry
 *      (-ENOSYS), a byte of text changed, "/bin/pause" -> paused; the test
 *      sees the counters and the text change and switches back.
 *   3. targeted: execve "/bin/denied" through the probe gets -EPERM; a
 *      getpid is no longer trapped at the entry (the test checks that
 *      from the audit log). */
#include "fw.h"
#include "isp_lib.h"

long __x64_sys_execve(const uint64_t *regs);
extern volatile uint64_t isp_ctl_execs;

__asm__(
    "    .text\n"
    "    .globl __x64_sys_execve\n"
    "    .type __x64_sys_execve, @function\n"
    "__x64_sys_execve:\n"
    "    .byte 0xf3, 0x0f, 0x1e, 0xfa\n"            /* endbr64 */
    "    .byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"      /* the ftrace NOP a probe replaces */
    "    incq isp_ctl_execs(%rip)\n"
    "    xorl %eax, %eax\n"
    "    ret\n"
    "    .size __x64_sys_execve, . - __x64_sys_execve\n"
    "    .bss\n"
    "    .balign 8\n"
    "    .globl isp_ctl_execs\n"
    "isp_ctl_execs: .quad 0\n"
    "    .text\n");

/* Code the payload rewrites in phase 2: never called. */
__attribute__((noinline, used)) void isp_ctl_patch_target(void)
{
    __asm__ volatile("nop; nop; nop; nop");
}

/* Through the handler, as the kernel's syscall path calls it (pt_regs in
 * RDI: di at 112, si at 104). */
static long handler_execve(const char *path)
{
    const char *argv[] = { path, NULL };
    uint64_t regs[21] = { 0 };

    regs[112 / 8] = (uint64_t)path;
    regs[104 / 8] = (uint64_t)argv;
    return __x64_sys_execve(regs);
}

static uint64_t entry_execve(const char *path)
{
    const char *argv[] = { path, NULL };

    return isp_syscall(59, (uint64_t)path, (uint64_t)argv);
}

void payload_main(void)
{
    static const char ok[] = "/bin/ok", pause[] = "/bin/pause", denied[] = "/bin/denied";
    volatile uint8_t *code = (volatile uint8_t *)(uintptr_t)isp_ctl_patch_target;
    uint64_t count = 3;

    CHECK(fw_param_u64("count", &count) >= 0);
    isp_syscall_setup((uint64_t)entry_SYSCALL_64);
    /* 1: targeted */
    CHECK(handler_execve(ok) == 0);
    CHECK(handler_execve(pause) == 0);
    CHECK(isp_ctl_execs == 2);
    /* 2: full */
    for (uint64_t i = 0; i < count; i++)
        CHECK(isp_syscall(39, 0, 0) == 1039);
    CHECK(entry_execve(denied) == (uint64_t)-38);  /* -ENOSYS: denied at the entry */
    code[0] ^= 0x01;
    CHECK(entry_execve(pause) == 1059);
    /* 3: targeted again */
    CHECK(handler_execve(denied) == -1);            /* -EPERM */
    CHECK(isp_ctl_execs == 2);
    CHECK(isp_syscall(39, 0, 0) == 1039);
    REPORT_OK();
}
