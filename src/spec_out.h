/* Where the spec has kvmm write a file (dump_dtb, a console file); part of
 * the spec module, used only by spec.c.  The control socket's path is
 * checked by spec_control_path_check() in spec.h.  Messages follow spec.h:
 * "PATH: what was expected". */
#ifndef KVMM_SPEC_OUT_H
#define KVMM_SPEC_OUT_H

#include <stddef.h>

/* kvmm can create or replace the file `path`: it is no directory, and it
 * or its directory is writable.  Nothing is created. */
int spec_output_file_check(const char *path, const char *label, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif /* KVMM_SPEC_OUT_H */
