#ifndef KVMM_TYPES_H
#define KVMM_TYPES_H

#include <stdint.h>

/* A guest physical address: an integer, never a pointer, so it cannot be
 * dereferenced by accident.  Translate with guest_mem_ptr(). */
typedef uint64_t gpa_t;

#define WUR __attribute__((warn_unused_result))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
