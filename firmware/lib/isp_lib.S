/* Ring-0 system call entries for the introspection payloads.  `syscall`
 * from ring 0 lands here with CPL 0, RCX = return address, R11 = RFLAGS,
 * on the caller's stack. */
    .text
    .code64

    .macro ISP_ENTRY name, id, endbr
    .globl \name
    .type \name, @function
\name:
    .if \endbr
    .byte   0xf3, 0x0f, 0x1e, 0xfa  /* endbr64, as IBT kernels begin */
    .endif
    incq    isp_calls(%rip)
    movq    $\id, isp_last_handler(%rip)
    cmpq    $-1, %rax
    jne     1f
    movq    $-38, %rax          /* -ENOSYS */
    jmp     2f
1:  addq    $1000, %rax
2:  pushq   %r11
    popfq
    jmp     *%rcx
    .size \name, . - \name
    .endm

    /* the boot entry begins with a NOP kvmm can skip; the other one
     * makes kvmm single-step its first instruction */
    ISP_ENTRY entry_SYSCALL_64, 1, 1
    ISP_ENTRY isp_other_entry, 2, 0

    .globl isp_syscall_setup
    .type isp_syscall_setup, @function
isp_syscall_setup:
    mov     %rdi, %r8
    mov     $0xc0000080, %ecx   /* EFER.SCE */
    rdmsr
    or      $1, %eax
    wrmsr
    mov     $0xc0000081, %ecx   /* STAR[47:32]: CS on syscall, SS = CS + 8 */
    xor     %eax, %eax
    mov     %cs, %dx
    movzwl  %dx, %edx
    wrmsr
    mov     $0xc0000084, %ecx   /* FMASK: keep RFLAGS */
    xor     %eax, %eax
    xor     %edx, %edx
    wrmsr
    mov     $0xc0000082, %ecx   /* LSTAR */
    mov     %r8, %rax
    mov     %r8, %rdx
    shr     $32, %rdx
    wrmsr
    ret
    .size isp_syscall_setup, . - isp_syscall_setup

    .bss
    .balign 8
    .globl isp_calls, isp_last_handler
isp_calls:          .quad 0
isp_last_handler:   .quad 0

    .section .note.GNU-stack, "", @progbits
