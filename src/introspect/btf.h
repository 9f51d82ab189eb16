/* A reader of the kernel's BTF type information (/sys/kernel/btf/vmlinux):
 * just enough to find where a member lies in a struct, so records can say
 * which task made a call.  The blob comes from a booted guest kernel: it
 * is untrusted, and every offset in it is checked against its bounds. */
#ifndef KVMM_INTROSPECT_BTF_H
#define KVMM_INTROSPECT_BTF_H

#include <stddef.h>
#include <stdint.h>
#include "types.h"

struct isp_btf;

/* Check the header and index the types.  data must outlive the handle.
 * 0, -EINVAL (not BTF, or a section or type runs past the end), -ENOMEM. */
int isp_btf_open(const uint8_t *data, size_t len, struct isp_btf **out) WUR;
void isp_btf_free(struct isp_btf *b);
/* Size of the whole blob a header describes (header and both sections),
 * or 0 when data does not start with a BTF header. */
size_t isp_btf_size(const uint8_t *data, size_t len);

/* Byte offset of member `member` of `struct strct` (members of anonymous
 * structs and unions inside it count as its own).  0, -ENOENT (no such
 * struct or member), -EINVAL (a bit field, or the member is not at a
 * byte boundary). */
int isp_btf_member_offset(const struct isp_btf *b, const char *strct, const char *member,
                          uint32_t *off) WUR;

#endif
