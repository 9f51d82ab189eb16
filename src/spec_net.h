/* The "nets" key of the VM spec (virtio-net NICs on TAP devices); part of
 * the spec module, used only by spec.c and spec_fc.c.  Messages follow spec.h:
 * "PATH: what was expected". */
#ifndef KVMM_SPEC_NET_H
#define KVMM_SPEC_NET_H

#include <stddef.h>

#include "spec.h"

struct cJSON;

/* Append one NIC on TAP device `tap`, with address `mac` (NULL: the default). */
int spec_net_add(struct vm_spec *vm, const char *tap, const char *mac, const char *tap_label,
		 const char *mac_label, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* "tap=NAME[,mac=MAC]" (the --net flag): append one NIC. */
int spec_net_add_text(struct vm_spec *vm, const char *text, const char *label, char *err,
		      size_t errlen) __attribute__((warn_unused_result));
/* The "nets" array: replaces the VM's NICs. */
int spec_nets_json_set(struct vm_spec *vm, const struct cJSON *v, const char *label,
		       char *err, size_t errlen) __attribute__((warn_unused_result));
void spec_nets_free(struct vm_spec *vm);

#endif /* KVMM_SPEC_NET_H */
