/*
 * `kvmm run` argument parsing.  Parsed by hand rather than with getopt so
 * that no global state survives between calls.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cli_flag {
	const char *name;
	enum vm_field field;
};

static const struct cli_flag cli_flags[] = {
	{ "--kernel", VM_FIELD_KERNEL },
	{ "--initrd", VM_FIELD_INITRD },
	{ "--cmdline", VM_FIELD_CMDLINE },
	{ "--cpus", VM_FIELD_VCPUS },
	{ "--memory", VM_FIELD_MEMORY },
	{ "--console", VM_FIELD_CONSOLE },
	{ "--name", VM_FIELD_NAME },
	{ "--on-reboot", VM_FIELD_ON_REBOOT },
	{ "--param", VM_FIELD_PARAMS },
	{ "--dump-dtb", VM_FIELD_DUMP_DTB },
	{ "--disk", VM_FIELD_DISKS },
	{ "--rng", VM_FIELD_RNG },
	{ "--no-rng", VM_FIELD_RNG },
	{ "--introspect", VM_FIELD_INTROSPECT },
	{ "--sched", VM_FIELD_SCHED },
	{ "--net", VM_FIELD_NETS },
};

#define CLI_NFLAGS (sizeof(cli_flags) / sizeof(cli_flags[0]))

/* One flag as given, applied once the spec (if any) is loaded. */
struct cli_override {
	const struct cli_flag *flag;
	const char *value;
};

struct cli_args {
	const char *spec_path;
	const char *config_file;	/* --config-file: Firecracker format */
	const char *control;		/* --control PATH */
	struct cli_override *ovr;
	size_t novr;
};

static const char cli_run_usage_text[] =
	"Usage: kvmm run [SPEC.json] [FLAGS]\n"
	"\n"
	"Boot the VMs described by SPEC.json, or one VM described by FLAGS.\n"
	"With a spec file, FLAGS override the settings of its VM (only for a\n"
	"spec with a single VM).\n"
	"\n"
	"Flags (also accepted as --flag=VALUE):\n"
	"  --kernel PATH            guest kernel (required without a spec)\n"
	"  --initrd PATH            initial ramdisk\n"
	"  --cmdline STR            kernel command line (default \"console=ttyS0\")\n"
	"  --cpus N                 number of vCPUs, 1..255 (default 1)\n"
	"  --memory MIB             guest RAM in MiB, 16..host RAM (default 256)\n"
	"  --console KIND           stdio | none | file:PATH (default stdio)\n"
	"  --name NAME              VM name, [A-Za-z0-9_.-]{1,63} (default vm0)\n"
	"  --on-reboot ACTION       restart | exit (default exit)\n"
	"  --param KEY=VALUE        parameter for the payload, passed in the\n"
	"                           device tree; repeatable\n"
	"  --dump-dtb FILE          write the VM's device tree to FILE\n"
	"  --disk PATH[,ro][,serial=S][,cache=none|writeback][,queues=N][,coalesce_us=N]\n"
	"                           virtio-blk disk (raw image); repeatable,\n"
	"                           added after the spec's disks\n"
	"  --rng, --no-rng          virtio-rng device on or off (default off)\n"
	"  --introspect JSON        the \"introspect\" object: guest system call\n"
	"                           auditing (docs/introspection.md)\n"
	"  --net tap=NAME[,mac=MAC] virtio-net NIC on TAP device NAME (opened,\n"
	"                           or created); repeatable, added after the\n"
	"                           spec's NICs\n"
	"  --sched JSON             scheduling: pinning, cgroup weights, adaptive\n"
	"                           weights, co-scheduling (docs/scheduling.md)\n"
	"  --control PATH           serve the QMP control socket at PATH\n"
	"                           (see kvmm ctl; docs/control.md)\n"
	"  --config-file FILE       read a Firecracker JSON config instead of\n"
	"                           a kvmm spec (docs/spec.md)\n"
	"  -h, --help               show this help\n"
	"\n"
	"Spec file: a JSON object with the keys name, kernel, initrd, cmdline,\n"
	"vcpus, memory_mib, console, on_reboot, params, dump_dtb, disks, rng,\n"
	"sched and nets, or\n"
	"{\"vms\": [ {...}, {...} ]} for several VMs.  Relative paths are taken\n"
	"from the spec file's directory.  Example:\n"
	"  {\"kernel\": \"vmlinuz\", \"initrd\": \"initrd.gz\", \"vcpus\": 2,\n"
	"   \"memory_mib\": 512, \"params\": {\"mode\": \"fast\", \"loops\": 3}}\n";

static const char cli_main_usage_text[] =
	"Usage: kvmm COMMAND [ARGS]\n"
	"       kvmm --version | --help\n"
	"\n"
	"Commands:\n"
	"  run [SPEC.json] [FLAGS]  boot virtual machines (see kvmm run --help)\n"
	"  ctl SOCKET COMMAND [KEY=VALUE...]\n"
	"                           send one control command to a running kvmm\n"
	"                           (see kvmm ctl --help)\n"
	"  profile --kernel PATH    write a kernel profile for introspection\n"
	"                           (docs/introspection.md)\n"
	"  allowlist IMAGE          hash every executable of an ext4 image\n"
	"\n"
	"Options:\n"
	"  -V, --version            print the version and exit\n"
	"  -h, --help               show this help and exit\n";

const char *cli_run_usage(void)
{
	return cli_run_usage_text;
}

const char *cli_main_usage(void)
{
	return cli_main_usage_text;
}

static int __attribute__((format(printf, 3, 4)))
cli_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Copy of `s` that prints on one line: control characters become '?'. */
static const char *cli_printable(const char *s, size_t n, char *buf,
				 size_t len)
{
	size_t i;

	for (i = 0; i < n && s[i] && i + 1 < len; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

static const struct cli_flag *cli_flag_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < CLI_NFLAGS; i++)
		if (strlen(cli_flags[i].name) == len &&
		    !strncmp(cli_flags[i].name, name, len))
			return &cli_flags[i];
	return NULL;
}

static const struct cli_flag *cli_flag_for_field(enum vm_field field)
{
	size_t i;

	for (i = 0; i < CLI_NFLAGS; i++)
		if (cli_flags[i].field == field)
			return &cli_flags[i];
	return NULL;
}

/* Switches take no value: --rng sets "true", --no-rng "false". */
static const char *cli_switch_value(const struct cli_flag *flag)
{
	if (flag->field != VM_FIELD_RNG)
		return NULL;
	return strncmp(flag->name, "--no-", 5) ? "true" : "false";
}

static bool cli_is_help(const char *arg)
{
	return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

/* Parse the option at argv[*i], consuming its value; records an override. */
static int cli_option_take(int argc, char **argv, int *i, struct cli_args *a,
			   char *err, size_t errlen)
{
	const char *arg = argv[*i], *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	const struct cli_flag *flag;
	const char *value;
	const char **slot = NULL;
	char buf[64];

	if (len == 9 && !strncmp(arg, "--control", len))
		slot = &a->control;
	else if (len == 13 && !strncmp(arg, "--config-file", len))
		slot = &a->config_file;
	if (slot) {
		if (!eq && *i + 1 >= argc)
			return cli_fail(err, errlen, "%.*s: missing value", (int)len, arg);
		*slot = eq ? eq + 1 : argv[++*i];
		return 0;
	}
	flag = arg[1] == '-' ? cli_flag_find(arg, len) : NULL;
	if (!flag)
		return cli_fail(err, errlen,
				"unknown option %s (see kvmm run --help)",
				cli_printable(arg, len, buf, sizeof(buf)));
	if (cli_switch_value(flag) && eq) {
		return cli_fail(err, errlen, "%s: takes no value", flag->name);
	} else if (cli_switch_value(flag)) {
		value = cli_switch_value(flag);
	} else if (eq) {
		value = eq + 1;
	} else if (*i + 1 < argc) {
		value = argv[++*i];
	} else {
		return cli_fail(err, errlen, "%s: missing value", flag->name);
	}
	a->ovr[a->novr].flag = flag;
	a->ovr[a->novr].value = value;
	a->novr++;
	return 0;
}

/* Split argv into the spec path and the overrides, without acting on them. */
static int cli_args_collect(int argc, char **argv, struct cli_args *a,
			    char *err, size_t errlen)
{
	bool options_done = false;
	char buf[128];
	int i, ret;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (!options_done && !strcmp(arg, "--")) {
			options_done = true;
		} else if (!options_done && cli_is_help(arg)) {
			return CLI_HELP;
		} else if (!options_done && arg[0] == '-' && arg[1]) {
			ret = cli_option_take(argc, argv, &i, a, err, errlen);
			if (ret)
				return ret;
		} else if (a->spec_path) {
			return cli_fail(err, errlen,
					"unexpected argument \"%s\" (only one spec file may be given)",
					cli_printable(arg, strlen(arg), buf, sizeof(buf)));
		} else {
			a->spec_path = arg;
		}
	}
	return 0;
}

/*
 * A spec that flags will override is loaded without its host checks, so
 * that e.g. --kernel can replace a kernel that does not exist here; the
 * checks run after the overrides, in cli_vm_check().
 */
static int cli_spec_load(const struct cli_args *a, bool validate,
			 struct kvmm_spec *out, char *err, size_t errlen)
{
	if (a->config_file)
		return spec_fc_load_file(a->config_file, validate, out, err, errlen);
	if (validate)
		return spec_load_file(a->spec_path, out, err, errlen);
	return spec_parse_file(a->spec_path, out, err, errlen);
}

static int cli_spec_start(const struct cli_args *a, struct kvmm_spec *out,
			  char *err, size_t errlen)
{
	int ret;

	if (a->spec_path && !a->novr)
		return cli_spec_load(a, true, out, err, errlen);
	if (a->spec_path) {
		ret = cli_spec_load(a, false, out, err, errlen);
		if (ret)
			return ret;
		if (out->nvms != 1)
			return cli_fail(err, errlen,
					"%s: cannot override a per-VM setting: the spec defines %zu VMs",
					a->ovr[0].flag->name, out->nvms);
		return 0;
	}
	out->vms = calloc(1, sizeof(*out->vms));
	if (!out->vms) {
		cli_fail(err, errlen, "out of memory");
		return -ENOMEM;
	}
	out->nvms = 1;
	vm_spec_init_defaults(&out->vms[0], 0);
	return 0;
}

/* The key a field of the loaded file goes by: a spec's, or the Firecracker
 * config's that set it. */
static const char *cli_file_key(const struct cli_args *a, enum vm_field field)
{
	const char *key = a->config_file ? spec_fc_field_key(field) : NULL;

	return key ? key : vm_field_key(field);
}

/*
 * Check the VM after the overrides.  A field set by a flag is reported
 * under the flag's name; one from the spec under its key; without a spec,
 * defaults are reported under the flag that would set them.
 */
static int cli_vm_check(const struct vm_spec *vm, const struct cli_args *a,
			char *err, size_t errlen)
{
	const char *label[VM_FIELD_COUNT] = { 0 };
	size_t i;
	int f, ret;

	for (i = 0; i < a->novr; i++)
		label[a->ovr[i].flag->field] = a->ovr[i].flag->name;
	if (!a->spec_path && !vm->kernel)
		return cli_fail(err, errlen,
				"--kernel: required when no spec file is given");
	for (f = 0; f < VM_FIELD_COUNT; f++) {
		if (!label[f] && a->spec_path)
			label[f] = cli_file_key(a, (enum vm_field)f);
		else if (!label[f])
			label[f] = cli_flag_for_field((enum vm_field)f)->name;
		ret = vm_spec_field_check(vm, (enum vm_field)f, label[f], err,
					  errlen);
		if (ret)
			return ret;
	}
	return 0;
}

static int cli_spec_build(const struct cli_args *a, struct kvmm_spec *out,
			  char *err, size_t errlen)
{
	struct vm_spec *vm;
	size_t i;
	int ret;

	ret = cli_spec_start(a, out, err, errlen);
	if (ret || (a->spec_path && !a->novr))
		return ret;
	vm = &out->vms[0];
	for (i = 0; i < a->novr; i++) {
		ret = vm_spec_field_set(vm, a->ovr[i].flag->field, a->ovr[i].value,
					NULL, a->ovr[i].flag->name, err, errlen);
		if (ret)
			return ret;
	}
	return cli_vm_check(vm, a, err, errlen);
}

int cli_parse_run(int argc, char **argv, struct kvmm_spec *out, char *err,
		  size_t errlen)
{
	struct cli_args a = { 0 };
	int ret;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	a.ovr = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*a.ovr));
	if (!a.ovr)
		return -ENOMEM;
	ret = cli_args_collect(argc, argv, &a, err, errlen);
	if (!ret && a.config_file && a.spec_path)
		ret = cli_fail(err, errlen,
			       "--config-file: cannot be combined with a spec file");
	if (!ret && a.config_file)
		a.spec_path = a.config_file;	/* loaded like a spec from here on */
	if (!ret)
		ret = cli_spec_build(&a, out, err, errlen);
	if (!ret && a.control)
		ret = spec_control_path_check(a.control, "--control", err, errlen);
	if (!ret && a.control) {
		free(out->control_path);
		out->control_path = strdup(a.control);
		if (!out->control_path)
			ret = cli_fail(err, errlen, "out of memory");
	}
	if (ret)
		spec_free(out);
	free(a.ovr);
	return ret;
}
