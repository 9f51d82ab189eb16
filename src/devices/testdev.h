/* Test port for firmware payloads: 8 I/O ports at PORT_TESTDEV.  The
 * protocol is described at the top of testdev.c and in docs/firmware.md. */
#ifndef KVMM_DEVICES_TESTDEV_H
#define KVMM_DEVICES_TESTDEV_H

#define TESTDEV_LEN        8
#define TESTDEV_REG_RESULT 0            /* w32: result; r32: signature */
#define TESTDEV_REG_PRINT  4            /* w32: print a value; r32: last value */
#define TESTDEV_SIGNATURE  0x4d4d564bu  /* "KVMM" in memory order */
#define TESTDEV_PASS       0u
#define TESTDEV_FAIL_BIT   0x80000000u  /* | source line */

#endif
