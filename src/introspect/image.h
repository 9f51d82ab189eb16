/* Read-only access to an ext2/3/4 file-system image (libext2fs), for
 * hashing what a guest executes host-side and for `kvmm allowlist`.  The
 * guest may be writing the image while kvmm reads it: a hash then
 * describes whatever the host sees, and a failure is just "unknown". */
#ifndef KVMM_INTROSPECT_IMAGE_H
#define KVMM_INTROSPECT_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include "introspect/policy.h"
#include "types.h"

struct isp_image;

int isp_image_open(const char *path, struct isp_image **out, char *err, size_t errlen) WUR;
void isp_image_close(struct isp_image *img);

/* SHA-256 of the regular file at absolute path (symbolic links followed).
 * 0, -EINVAL (relative path), -ENOENT, -EISDIR (not a regular file),
 * -EFBIG (over 1 GiB), -EIO.  Thread-safe. */
int isp_image_hash(struct isp_image *img, const char *path, uint8_t sha[ISP_SHA256_LEN]) WUR;

/* Call fn for every regular file with an execute bit, depth first. */
typedef void (*isp_image_fn)(void *ctx, const char *path, const uint8_t sha[ISP_SHA256_LEN]);
int isp_image_walk_exec(struct isp_image *img, isp_image_fn fn, void *ctx) WUR;

/* `kvmm allowlist IMAGE [-o OUT]`: exit status. */
int isp_allowlist_main(int argc, char **argv);

#endif
