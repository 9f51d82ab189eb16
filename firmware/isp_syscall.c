/* Introspection, full mode: the payload points LSTAR at its own handler
 * (entry_SYSCALL_64) and makes `count` system calls (param, default 10)
 * from ring 0, then one execve of "/bin/denied".  kvmm traps each call at
 * the entry with a hardware breakpoint.  expect_deny=1: the execve must
 * come back -ENOSYS (kvmm denied it at the entry); else the handler's own
 * result, nr + 1000. */
#include "fw.h"
#include "isp_lib.h"

void payload_main(void)
{
    static const char path[] = "/bin/denied";
    static const char arg1[] = "--now";
    const char *argv[] = { path, arg1, NULL };
    uint64_t count = 10, expect_deny = 0, r;

    CHECK(fw_param_u64("count", &count) >= 0);
    CHECK(fw_param_u64("expect_deny", &expect_deny) >= 0);
    isp_syscall_setup((uint64_t)entry_SYSCALL_64);
    for (uint64_t i = 0; i < count; i++)
        CHECK(isp_syscall(39, 0, 0) == 1039);   /* getpid */
    CHECK(isp_calls == count);
    r = isp_syscall(59, (uint64_t)path, (uint64_t)argv);
    CHECK(r == (expect_deny ? (uint64_t)-38 : 1059));
    fw_print((uint32_t)isp_calls);
    REPORT_OK();
}
