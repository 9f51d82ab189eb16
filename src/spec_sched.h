/* The "sched" key of the VM spec; part of the spec module, used only by
 * spec.c.  Messages follow spec.h: "PATH: what was expected". */
#ifndef KVMM_SPEC_SCHED_H
#define KVMM_SPEC_SCHED_H

#include <stddef.h>

#include "spec.h"

struct cJSON;

void spec_sched_defaults(struct spec_sched *s);
/* The "sched" object: replaces the VM's settings. */
int spec_sched_json_set(struct vm_spec *vm, const struct cJSON *v, const char *label,
			char *err, size_t errlen) __attribute__((warn_unused_result));
/* The same object as JSON text (the --sched flag). */
int spec_sched_text_set(struct vm_spec *vm, const char *text, const char *label,
			char *err, size_t errlen) __attribute__((warn_unused_result));
/* Per-vCPU lists match the vCPU count; CPUs exist on this host. */
int spec_sched_check(const struct vm_spec *vm, const char *label, char *err,
		     size_t errlen) __attribute__((warn_unused_result));
void spec_sched_free(struct spec_sched *s);

#endif /* KVMM_SPEC_SCHED_H */
