/* Introspection names the calling task: a kernel-like per-CPU area (GS
 * base), task, file table, file and dentries, laid out as the profile's
 * offsets say (tests/fw/introspect.sh writes them).  The payload calls
 * __x64_sys_finit_module (endbr64, ftrace NOP, struct pt_regs in RDI) with
 * fd 3, a file whose dentries spell /mod/crc7.ko; fd 9, past max_fds; and
 * fd 2, a file whose dentry chain loops.  kvmm records pid, tid and comm,
 * the path for fd 3 and a path_error for the others; every call runs. */
#include "fw.h"
#include "isp_lib.h"

#define MSR_GS_BASE 0xc0000101u

long __x64_sys_finit_module(const uint64_t *regs);
extern volatile uint64_t isp_finit_ran;

__asm__(
    "    .text\n"
    "    .globl __x64_sys_finit_module\n"
    "    .type __x64_sys_finit_module, @function\n"
    "__x64_sys_finit_module:\n"
    "    .byte 0xf3, 0x0f, 0x1e, 0xfa\n"            /* endbr64 */
    "    .byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"      /* nopl 0(%rax,%rax) */
    "    incq isp_finit_ran(%rip)\n"
    "    xorl %eax, %eax\n"
    "    ret\n"
    "    .size __x64_sys_finit_module, . - __x64_sys_finit_module\n"
    /* per-CPU offset of the current task, as in kallsyms */
    "    .globl current_task\n"
    "    .set current_task, 0x40\n"
    "    .bss\n"
    "    .balign 8\n"
    "    .globl isp_finit_ran\n"
    "isp_finit_ran: .quad 0\n"
    "    .text\n");

/* The offsets tests/fw/introspect.sh puts in the profile. */
#define TASK_PID     0x10
#define TASK_TGID    0x14
#define TASK_COMM    0x20
#define TASK_FILES   0x40
#define FILES_FDT    0x08
#define FDT_MAX_FDS  0x00
#define FDT_FD       0x08
#define FILE_F_PATH  0x10
#define PATH_DENTRY  0x08
#define DENTRY_PARENT 0x18
#define DENTRY_NAME  0x20
#define QSTR_NAME    0x08

static uint64_t percpu[16], task[16], files[4], fdt[4], fds[4], file3[8], file2[8];
static uint64_t d_root[8], d_mod[8], d_ko[8], d_loop_a[8], d_loop_b[8];

#define AT(obj, off) (*(uint64_t *)((uint8_t *)(obj) + (off)))

static void put32(uint64_t *obj, unsigned off, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        ((uint8_t *)obj)[off + i] = (uint8_t)(v >> (8 * i));
}

static void dentry(uint64_t *d, uint64_t *parent, const char *name)
{
    AT(d, DENTRY_PARENT) = (uint64_t)parent;
    AT(d, DENTRY_NAME + QSTR_NAME) = (uint64_t)name;
}

static void layout(void)
{
    static const char comm[16] = "isp_task";

    percpu[0x40 / 8] = (uint64_t)task;
    put32(task, TASK_PID, 77);
    put32(task, TASK_TGID, 76);
    for (unsigned i = 0; i < sizeof(comm); i++)
        ((uint8_t *)task)[TASK_COMM + i] = (uint8_t)comm[i];
    AT(task, TASK_FILES) = (uint64_t)files;
    AT(files, FILES_FDT) = (uint64_t)fdt;
    put32(fdt, FDT_MAX_FDS, 4);
    AT(fdt, FDT_FD) = (uint64_t)fds;
    fds[3] = (uint64_t)file3;
    fds[2] = (uint64_t)file2;
    AT(file3, FILE_F_PATH + PATH_DENTRY) = (uint64_t)d_ko;
    AT(file2, FILE_F_PATH + PATH_DENTRY) = (uint64_t)d_loop_a;
    dentry(d_root, d_root, "/");
    dentry(d_mod, d_root, "mod");
    dentry(d_ko, d_mod, "crc7.ko");
    dentry(d_loop_a, d_loop_b, "a");
    dentry(d_loop_b, d_loop_a, "b");
}

/* struct pt_regs: di at 112 */
static long call_finit(uint64_t fd)
{
    uint64_t regs[21] = { 0 };

    regs[112 / 8] = fd;
    return __x64_sys_finit_module(regs);
}

void payload_main(void)
{
    layout();
    wrmsr(MSR_GS_BASE, (uint64_t)percpu);
    isp_syscall_setup((uint64_t)entry_SYSCALL_64);
    CHECK(call_finit(3) == 0);
    CHECK(call_finit(9) == 0);
    CHECK(call_finit(2) == 0);
    CHECK(isp_finit_ran == 3);
    REPORT_OK();
}
