#include "introspect/sysno.h"

#include <string.h>

#include "types.h"

/* SYSCALL(nr, name) lines made from <asm/unistd_64.h> by the Makefile. */
#define SYSCALL(nr, name) [nr] = #name,
static const char *const syscall_names[] = {
#include "syscalls.h"
};
#undef SYSCALL

unsigned syscall_limit(void)
{
    return ARRAY_SIZE(syscall_names);
}

const char *syscall_name(uint64_t nr)
{
    return nr < ARRAY_SIZE(syscall_names) ? syscall_names[nr] : NULL;
}

int syscall_number(const char *name)
{
    for (unsigned i = 0; i < ARRAY_SIZE(syscall_names); i++)
        if (syscall_names[i] && !strcmp(syscall_names[i], name))
            return (int)i;
    return -1;
}
