/* Benchmark payload: its first port write is the first thing kvmm sees of
 * the guest.  kvmm enters at _start in 64-bit mode (docs/firmware.md); two
 * register moves later the guest writes 1 to the test device's PRINT
 * register (kvmm logs "testdev: value 0x1" on stderr), then reports OK.
 * Built by bench/first_insn.sh with firmware/payload.ld; the device tree is
 * not read, so the port is the fixed PORT_TESTDEV (0x440). */
    .section .text.start, "ax"
    .code64
    .globl _start
_start:
    mov     $0x444, %edx            /* PORT_TESTDEV + TESTDEV_REG_PRINT */
    mov     $1, %eax
    out     %eax, %dx
    mov     $0x440, %edx            /* PORT_TESTDEV + TESTDEV_REG_RESULT */
    xor     %eax, %eax              /* TESTDEV_PASS */
    out     %eax, %dx
1:  cli
    hlt
    jmp     1b

    .section .note.GNU-stack, "", @progbits
