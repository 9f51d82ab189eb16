/* TAP devices of the Linux tun driver, as network back ends: frames in and
 * out of one non-blocking fd, each preceded by a virtio-net header. */
#ifndef KVMM_DEVICES_TAP_H
#define KVMM_DEVICES_TAP_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include "types.h"

struct tap {
    int fd;
    char name[IFNAMSIZ];
    bool created;           /* kvmm made the interface; it goes when fd closes */
    unsigned offloads;      /* TUN_F_* the driver accepts (TUNSETOFFLOAD) */
};

/* Attach to TAP `name` (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, multi-queue
 * off), creating it and setting its link up when it does not exist, with
 * vnet headers of hdr_len bytes.  On failure err says what the user can
 * do about it. */
int tap_open(struct tap *t, const char *name, unsigned hdr_len, char *err, size_t errlen) WUR;
void tap_close(struct tap *t);
/* Let the TAP hand us frames with partial checksums / GSO (TUN_F_*). */
int tap_set_offload(struct tap *t, unsigned flags) WUR;
/* The interface MTU, or 1500 when it cannot be read. */
unsigned tap_mtu(const struct tap *t);

#endif
