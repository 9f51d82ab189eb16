/* Payload entry.  kvmm enters here in 64-bit mode with interrupts off,
 * RSP = LAYOUT_STACK_TOP and RDI = the device tree (docs/firmware.md). */
    .section .text.start, "ax"
    .code64
    .globl _start
_start:
    cli
    mov     %rdi, %rbx              /* keep the FDT address */
    /* Zero .bss with plain stores: the loader may leave it to us. */
    lea     __bss_start(%rip), %rdi
    lea     __bss_end(%rip), %rcx
1:  cmp     %rcx, %rdi
    jae     2f
    movq    $0, (%rdi)
    add     $8, %rdi
    jmp     1b
2:  mov     %rbx, %rdi
    xor     %ebp, %ebp
    call    fw_start                /* does not return */
3:  hlt
    jmp     3b

    .section .note.GNU-stack, "", @progbits
