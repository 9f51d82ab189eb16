/* Device keys of the VM spec (disks, rng); part of the spec module, used
 * only by spec.c and spec_fc.c.  Messages follow spec.h: "PATH: what was
 * expected". */
#ifndef KVMM_SPEC_DEV_H
#define KVMM_SPEC_DEV_H

#include <stddef.h>

#include "spec.h"

struct cJSON;

/* Append one disk at `path` (taken as it is), with the default options. */
int spec_disk_add(struct vm_spec *vm, const char *path, bool read_only, const char *label,
		  char *err, size_t errlen) __attribute__((warn_unused_result));
/* "PATH[,ro][,serial=S][,cache=none|writeback][,queues=N][,coalesce_us=N]": append one disk. */
int spec_disk_add_text(struct vm_spec *vm, const char *text, const char *base_dir,
		       const char *label, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* The "disks" array: replaces the VM's disks. */
int spec_disks_json_set(struct vm_spec *vm, const struct cJSON *v, const char *base_dir,
			const char *label, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* The disk's image exists, is readable, and writable unless read-only. */
int spec_disk_check(const struct spec_disk *d, const char *label, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Every disk's image exists, is readable, and writable unless read-only. */
int spec_disks_check(const struct vm_spec *vm, const char *label, char *err, size_t errlen)
	__attribute__((warn_unused_result));
void spec_disks_free(struct vm_spec *vm);

/* "true" / "false" for the rng switch. */
int spec_bool_set_text(bool *slot, const char *text, const char *label, char *err,
		       size_t errlen) __attribute__((warn_unused_result));

#endif /* KVMM_SPEC_DEV_H */
