/*
 * Command-line parsing for `kvmm run [SPEC.json] [FLAGS]` and the usage
 * texts.  Flags map one-to-one onto the spec keys (see docs/spec.md).
 */
#ifndef KVMM_CLI_H
#define KVMM_CLI_H

#include <stddef.h>

#include "spec.h"

/* cli_parse_run() result when -h/--help was given: print cli_run_usage(). */
#define CLI_HELP 1

/*
 * Parse argv (argv[0] is "run") into `out`.  A spec file, if given, is
 * loaded first; flags then override fields of its only VM.  Without a spec
 * the flags describe one VM.  Returns 0, CLI_HELP, or -errno with a one-line
 * message in `err`; `out` is left empty unless 0 is returned.
 */
int cli_parse_run(int argc, char **argv, struct kvmm_spec *out, char *err,
		  size_t errlen) __attribute__((warn_unused_result));

/* Text of `kvmm run --help`. */
const char *cli_run_usage(void);

/* Text of `kvmm --help`. */
const char *cli_main_usage(void);

#endif /* KVMM_CLI_H */
