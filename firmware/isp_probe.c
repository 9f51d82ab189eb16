/* Introspection, targeted mode: __x64_sys_execve here begins like a
 * Debian kernel function, endbr64 then the 5-byte ftrace NOP, and takes a
 * struct pt_regs like the kernel's wrapper.  kvmm patches a probe over the
 * NOP (or sets a breakpoint, trap "breakpoint"), decodes path and argv,
 * and denies "/bin/denied*" by returning -EPERM from the function.  The
 * payload calls it `count` times (param, default 4) with "/bin/ok" and
 * once with "/bin/denied", and checks which ran.  runs_denied=1: the
 * "/bin/denied" call must run (a policy that pauses instead of denying). */
#include "fw.h"
#include "isp_lib.h"

long __x64_sys_execve(const uint64_t *regs);
extern volatile uint64_t isp_execve_ran;

__asm__(
    "    .text\n"
    "    .globl __x64_sys_execve\n"
    "    .type __x64_sys_execve, @function\n"
    "__x64_sys_execve:\n"
    "    .byte 0xf3, 0x0f, 0x1e, 0xfa\n"            /* endbr64 */
    "    .byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"      /* nopl 0(%rax,%rax) */
    "    incq isp_execve_ran(%rip)\n"
    "    xorl %eax, %eax\n"
    "    ret\n"
    "    .size __x64_sys_execve, . - __x64_sys_execve\n"
    "    .bss\n"
    "    .balign 8\n"
    "    .globl isp_execve_ran\n"
    "isp_execve_ran: .quad 0\n"
    "    .text\n");

/* struct pt_regs: 21 quadwords; di at 112, si at 104 */
static long call_execve(const char *path, const char *const *argv)
{
    uint64_t regs[21] = { 0 };

    regs[112 / 8] = (uint64_t)path;
    regs[104 / 8] = (uint64_t)argv;
    return __x64_sys_execve(regs);
}

void payload_main(void)
{
    static const char ok[] = "/bin/ok", denied[] = "/bin/denied";
    const char *argv_ok[] = { ok, "-v", NULL }, *argv_denied[] = { denied, NULL };
    uint64_t count = 4, patched = 0, runs_denied = 0;
    const uint8_t *code = (const uint8_t *)(uintptr_t)__x64_sys_execve;

    CHECK(fw_param_u64("count", &count) >= 0);
    CHECK(fw_param_u64("expect_patched", &patched) >= 0);
    CHECK(fw_param_u64("runs_denied", &runs_denied) >= 0);
    /* Booting: the system call entry is where kvmm learns the slide. */
    isp_syscall_setup((uint64_t)entry_SYSCALL_64);
    if (patched)
        CHECK(code[4] == 0xe7 && code[5] == 0xe6);
    for (uint64_t i = 0; i < count; i++)
        CHECK(call_execve(ok, argv_ok) == 0);
    CHECK(isp_execve_ran == count);
    CHECK(call_execve(denied, argv_denied) == (runs_denied ? 0 : -1));  /* -EPERM */
    CHECK(isp_execve_ran == count + runs_denied);
    REPORT_OK();
}
