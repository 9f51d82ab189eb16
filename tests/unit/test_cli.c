/* Unit tests for `kvmm run` argument parsing. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "spec.h"

#define HOST_MIB 4096
#define MAX_ARGS 32

static char dir[PATH_MAX];
static char kernel[PATH_MAX + 16];
static char initrd[PATH_MAX + 16];
static char one_vm[PATH_MAX + 16];    /* spec with one VM */
static char two_vms[PATH_MAX + 16];   /* spec with two VMs */
static char template[PATH_MAX + 16];  /* spec whose kernel is not there */
static char expect[PATH_MAX + 256];
static char err[512];
static struct kvmm_spec spec;

static void file_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static int fixture_setup(void **state)
{
	char tmpl[] = "/tmp/kvmm-cli-XXXXXX";

	(void)state;
	if (!mkdtemp(tmpl) || !realpath(tmpl, dir))
		return -1;
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", dir);
	snprintf(initrd, sizeof(initrd), "%s/initrd.img", dir);
	snprintf(one_vm, sizeof(one_vm), "%s/one.json", dir);
	snprintf(two_vms, sizeof(two_vms), "%s/two.json", dir);
	snprintf(template, sizeof(template), "%s/template.json", dir);
	file_write(kernel, "kernel");
	file_write(initrd, "initrd");
	file_write(one_vm, "{\"name\": \"fromspec\", \"kernel\": \"vmlinuz\",\n"
			   " \"vcpus\": 2, \"memory_mib\": 512,\n"
			   " \"params\": {\"a\": \"spec\", \"b\": 7}}\n");
	file_write(two_vms, "{\"vms\": [{\"kernel\": \"vmlinuz\"},\n"
			    " {\"kernel\": \"vmlinuz\", \"initrd\": \"initrd.img\"}]}\n");
	file_write(template, "{\"kernel\": \"not-built-yet\", \"vcpus\": 3}\n");
	spec_set_host_mem_mib(HOST_MIB);
	return 0;
}

static int fixture_teardown(void **state)
{
	(void)state;
	unlink(template);
	unlink(two_vms);
	unlink(one_vm);
	unlink(initrd);
	unlink(kernel);
	rmdir(dir);
	spec_set_host_mem_mib(0);
	return 0;
}

static int test_teardown(void **state)
{
	(void)state;
	spec_free(&spec);
	spec_set_host_mem_mib(HOST_MIB);
	return 0;
}

/* cli_parse_run() on "run" followed by the NULL-terminated arguments. */
static int run(const char *arg, ...)
{
	char *argv[MAX_ARGS + 1];
	int argc = 0;
	va_list ap;

	argv[argc++] = (char *)"run";
	va_start(ap, arg);
	for (; arg; arg = va_arg(ap, const char *)) {
		assert_true(argc < MAX_ARGS);
		argv[argc++] = (char *)arg;
	}
	va_end(ap);
	argv[argc] = NULL;
	return cli_parse_run(argc, argv, &spec, err, sizeof(err));
}

static void ok(int ret)
{
	if (ret)
		fail_msg("unexpected result %d: %s", ret, err);
	assert_int_equal(spec.nvms, 1);
}

static void fails(int ret, const char *msg)
{
	assert_int_equal(ret, -EINVAL);
	assert_string_equal(err, msg);
	assert_null(spec.vms);
	assert_int_equal(spec.nvms, 0);
}

static void test_flags_only_defaults(void **state)
{
	const struct vm_spec *vm;

	(void)state;
	ok(run("--kernel", kernel, NULL));
	vm = &spec.vms[0];
	assert_string_equal(vm->name, "vm0");
	assert_string_equal(vm->kernel, kernel);
	assert_null(vm->initrd);
	assert_string_equal(vm->cmdline, "console=ttyS0");
	assert_int_equal(vm->vcpus, 1);
	assert_int_equal(vm->memory_mib, 256);
	assert_int_equal(vm->console, CONSOLE_STDIO);
	assert_int_equal(vm->on_reboot, REBOOT_EXIT);
	assert_int_equal(vm->nparams, 0);
	assert_null(vm->dump_dtb);
}

static void test_flags_only_all(void **state)
{
	const struct vm_spec *vm;

	(void)state;
	ok(run("--kernel", kernel, "--initrd", initrd, "--cmdline", "console=ttyS0 quiet",
	       "--cpus", "4", "--memory", "1024", "--console", "none", "--name",
	       "web.1", "--on-reboot", "restart", "--param", "mode=fast",
	       "--dump-dtb", "/tmp/vm.dtb", NULL));
	vm = &spec.vms[0];
	assert_string_equal(vm->name, "web.1");
	assert_string_equal(vm->initrd, initrd);
	assert_string_equal(vm->cmdline, "console=ttyS0 quiet");
	assert_int_equal(vm->vcpus, 4);
	assert_int_equal(vm->memory_mib, 1024);
	assert_int_equal(vm->console, CONSOLE_NONE);
	assert_int_equal(vm->on_reboot, REBOOT_RESTART);
	assert_int_equal(vm->nparams, 1);
	assert_string_equal(vm->params[0].key, "mode");
	assert_string_equal(vm->params[0].value, "fast");
	assert_string_equal(vm->dump_dtb, "/tmp/vm.dtb");
}

static void test_equals_form(void **state)
{
	char karg[PATH_MAX + 32];
	const struct vm_spec *vm;

	(void)state;
	snprintf(karg, sizeof(karg), "--kernel=%s", kernel);
	ok(run(karg, "--cpus=3", "--memory=64", "--console=file:/tmp/c.log",
	       "--param=k=v=w", "--cmdline=", "--on-reboot=exit", "--name=x", NULL));
	vm = &spec.vms[0];
	assert_string_equal(vm->kernel, kernel);
	assert_int_equal(vm->vcpus, 3);
	assert_int_equal(vm->memory_mib, 64);
	assert_int_equal(vm->console, CONSOLE_FILE);
	assert_string_equal(vm->console_path, "/tmp/c.log");
	assert_string_equal(vm->params[0].key, "k");
	assert_string_equal(vm->params[0].value, "v=w");
	assert_string_equal(vm->cmdline, "");
	assert_int_equal(vm->on_reboot, REBOOT_EXIT);
	assert_string_equal(vm->name, "x");
}

static void test_spec_only(void **state)
{
	const struct vm_spec *vm;

	(void)state;
	ok(run(one_vm, NULL));
	vm = &spec.vms[0];
	assert_string_equal(vm->name, "fromspec");
	assert_string_equal(vm->kernel, kernel);
	assert_int_equal(vm->vcpus, 2);
	assert_int_equal(vm->memory_mib, 512);
	assert_int_equal(vm->nparams, 2);
}

static void test_spec_with_overrides(void **state)
{
	const struct vm_spec *vm;

	(void)state;
	ok(run(one_vm, "--cpus", "8", "--initrd", initrd, "--param", "a=flag",
	       "--param", "c=3", NULL));
	vm = &spec.vms[0];
	assert_string_equal(vm->name, "fromspec");
	assert_int_equal(vm->vcpus, 8);
	assert_int_equal(vm->memory_mib, 512);
	assert_string_equal(vm->initrd, initrd);
	assert_int_equal(vm->nparams, 3);
	assert_string_equal(vm->params[0].key, "a");
	assert_string_equal(vm->params[0].value, "flag");
	assert_string_equal(vm->params[1].value, "7");
	assert_string_equal(vm->params[2].key, "c");
	assert_string_equal(vm->params[2].value, "3");
}

static void test_flags_before_spec(void **state)
{
	(void)state;
	ok(run("--memory", "128", one_vm, NULL));
	assert_int_equal(spec.vms[0].memory_mib, 128);
	assert_int_equal(spec.vms[0].vcpus, 2);
	spec_free(&spec);
	ok(run("--name", "n", "--", one_vm, NULL));
	assert_string_equal(spec.vms[0].name, "n");
}

static void test_spec_errors(void **state)
{
	(void)state;
	fails(run(two_vms, "--cpus", "2", NULL),
	      "--cpus: cannot override a per-VM setting: the spec defines 2 VMs");
	assert_int_equal(run(two_vms, NULL), 0);
	assert_int_equal(spec.nvms, 2);
	assert_string_equal(spec.vms[1].initrd, initrd);
	spec_free(&spec);
	assert_int_equal(run("/nonexistent.json", NULL), -ENOENT);
	assert_string_equal(err, "/nonexistent.json: cannot read spec file: "
			    "No such file or directory");
	assert_null(spec.vms);
	fails(run(one_vm, "extra.json", NULL),
	      "unexpected argument \"extra.json\" (only one spec file may be given)");
	spec_set_host_mem_mib(256);
	fails(run(one_vm, NULL),
	      "memory_mib: 512 MiB exceeds host memory (256 MiB)");
	ok(run(one_vm, "--memory", "200", NULL));
}

/* Host checks run after the overrides, so flags can repair a spec. */
static void test_spec_fixed_by_flags(void **state)
{
	(void)state;
	snprintf(expect, sizeof(expect), "kernel: file not found: %s/not-built-yet",
		 dir);
	fails(run(template, NULL), expect);
	fails(run(template, "--name", "t", NULL), expect);
	ok(run(template, "--kernel", kernel, NULL));
	assert_string_equal(spec.vms[0].kernel, kernel);
	assert_int_equal(spec.vms[0].vcpus, 3);
	spec_free(&spec);
	spec_set_host_mem_mib(256);
	fails(run(one_vm, "--cpus", "1", NULL),
	      "memory_mib: 512 MiB exceeds host memory (256 MiB)");
	fails(run(one_vm, "--memory", "300", NULL),
	      "--memory: 300 MiB exceeds host memory (256 MiB)");
}

static void test_bad_values(void **state)
{
	(void)state;
	fails(run("--kernel", kernel, "--cpus", "two", NULL),
	      "--cpus: expected an integer 1..255, got \"two\"");
	fails(run("--kernel", kernel, "--cpus", "0", NULL),
	      "--cpus: expected an integer 1..255, got \"0\"");
	fails(run("--kernel", kernel, "--cpus=256", NULL),
	      "--cpus: expected an integer 1..255, got \"256\"");
	fails(run("--kernel", kernel, "--cpus", "-1", NULL),
	      "--cpus: expected an integer 1..255, got \"-1\"");
	fails(run("--kernel", kernel, "--cpus", " 2", NULL),
	      "--cpus: expected an integer 1..255, got \" 2\"");
	fails(run("--kernel", kernel, "--memory", "99999999999999999999999", NULL),
	      "--memory: expected an integer 16..4096, got \"99999999999999999999999\"");
	fails(run("--kernel", kernel, "--memory", "8", NULL),
	      "--memory: expected an integer 16..4096, got \"8\"");
	fails(run("--kernel", kernel, "--memory", "100000", NULL),
	      "--memory: 100000 MiB exceeds host memory (4096 MiB)");
	fails(run("--kernel", kernel, "--console", "tty", NULL),
	      "--console: expected \"stdio\", \"none\" or \"file:PATH\", got \"tty\"");
	fails(run("--kernel", kernel, "--on-reboot", "halt", NULL),
	      "--on-reboot: expected \"restart\" or \"exit\", got \"halt\"");
	fails(run("--kernel", kernel, "--name", "a/b", NULL),
	      "--name: expected a name of 1..63 characters from [A-Za-z0-9_.-], "
	      "got \"a/b\"");
	fails(run("--kernel", kernel, "--name", "..", NULL),
	      "--name: expected a name other than \".\" and \"..\", got \"..\"");
	fails(run(one_vm, "--name=.", NULL),
	      "--name: expected a name other than \".\" and \"..\", got \".\"");
	fails(run("--kernel", kernel, "--param", "novalue", NULL),
	      "--param: expected KEY=VALUE, got \"novalue\"");
	fails(run("--kernel", kernel, "--param", "a b=1", NULL),
	      "--param: expected a key of 1..31 characters from [A-Za-z0-9,._+-], "
	      "got \"a b\"");
	fails(run("--kernel", kernel, "--dump-dtb", "", NULL),
	      "--dump-dtb: expected a non-empty path, got \"\"");
}

/* JSON given as a flag's value is read as strictly as a spec file. */
static void test_json_flags_strict(void **state)
{
	(void)state;
	fails(run("--kernel", kernel, "--sched", "{\"cgroup_parent\": \"k\\u0000/..\"}", NULL),
	      "--sched.cgroup_parent: expected text without NUL (\\u0000) characters");
	fails(run("--kernel", kernel, "--sched", "{\"weight\": 100} {}", NULL),
	      "--sched: invalid JSON at line 1, column 17");
	fails(run("--kernel", kernel, "--introspect", "{\"mode\\u0000\": 1}", NULL),
	      "--introspect.mode: expected a key without NUL (\\u0000) characters");
	ok(run("--kernel", kernel, "--sched", " {\"weight\": 100}\n", NULL));
	assert_int_equal(spec.vms[0].sched.weight, 100);
}

static void test_bad_files(void **state)
{
	(void)state;
	fails(run("--kernel", "/nonexistent/vmlinuz", NULL),
	      "--kernel: file not found: /nonexistent/vmlinuz");
	fails(run("--kernel", kernel, "--initrd", "/nonexistent/initrd", NULL),
	      "--initrd: file not found: /nonexistent/initrd");
	snprintf(expect, sizeof(expect), "--kernel: not a regular file: %s", dir);
	fails(run("--kernel", dir, NULL), expect);
	fails(run(one_vm, "--kernel=/x/y", NULL), "--kernel: file not found: /x/y");
}

/* With flags, a Firecracker config's settings are still reported under
 * its own keys. */
static void test_config_file_keys(void **state)
{
	char fc[PATH_MAX + 16], text[PATH_MAX + 256];

	(void)state;
	snprintf(fc, sizeof(fc), "%s/fc.json", dir);
	file_write(fc, "{\"boot-source\": {\"kernel_image_path\": \"/nonexistent/vmlinux\"}}");
	fails(run("--config-file", fc, "--console", "none", NULL),
	      "boot-source.kernel_image_path: file not found: /nonexistent/vmlinux");
	snprintf(text, sizeof(text), "{\"boot-source\": {\"kernel_image_path\": \"%s\"},"
		 " \"drives\": [{\"drive_id\": \"r\", \"path_on_host\": \"/nonexistent.img\","
		 " \"is_root_device\": true}]}", kernel);
	file_write(fc, text);
	fails(run("--config-file", fc, "--console", "none", NULL),
	      "drives[0].path_on_host: /nonexistent.img: No such file or directory");
	snprintf(text, sizeof(text), "{\"boot-source\": {\"kernel_image_path\": \"%s\"},"
		 " \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 512}}", kernel);
	file_write(fc, text);
	spec_set_host_mem_mib(256);
	fails(run("--config-file", fc, "--name", "x", NULL),
	      "machine-config.mem_size_mib: 512 MiB exceeds host memory (256 MiB)");
	fails(run("--config-file", fc, "--memory", "300", NULL),
	      "--memory: 300 MiB exceeds host memory (256 MiB)");
	ok(run("--config-file", fc, "--memory", "200", NULL));
	unlink(fc);
}

/* The control socket and the device-tree file are checked with the flags,
 * under the flag or the spec key that named them. */
static void test_output_flags(void **state)
{
	char longpath[128], dtb[PATH_MAX + 16];

	(void)state;
	fails(run("--kernel", kernel, "--control", "", NULL),
	      "--control: expected a socket path, got \"\"");
	fails(run("--kernel", kernel, "--control=", NULL),
	      "--control: expected a socket path, got \"\"");
	snprintf(longpath, sizeof(longpath), "/tmp/%0103d", 0);
	fails(run("--kernel", kernel, "--control", longpath, NULL),
	      "--control: expected a socket path of at most 107 bytes, got 108");
	longpath[107] = '\0';
	ok(run("--kernel", kernel, "--control", longpath, NULL));
	assert_string_equal(spec.control_path, longpath);
	spec_free(&spec);
	fails(run("--kernel", kernel, "--control", "/nonexistent/ctl.sock", NULL),
	      "--control: cannot create /nonexistent/ctl.sock: No such file or directory");
	fails(run("--kernel", kernel, "--console", "file:/nonexistent/c.log", NULL),
	      "--console: cannot write /nonexistent/c.log: No such file or directory");
	fails(run("--kernel", kernel, "--dump-dtb", "/nonexistent/vm.dtb", NULL),
	      "--dump-dtb: cannot write /nonexistent/vm.dtb: No such file or directory");
	snprintf(dtb, sizeof(dtb), "%s/dtb.json", dir);
	file_write(dtb, "{\"kernel\": \"vmlinuz\", \"dump_dtb\": \"/nonexistent/vm.dtb\"}");
	fails(run(dtb, NULL), "dump_dtb: cannot write /nonexistent/vm.dtb: No such file or directory");
	fails(run(dtb, "--cpus", "2", NULL),
	      "dump_dtb: cannot write /nonexistent/vm.dtb: No such file or directory");
	ok(run(dtb, "--dump-dtb", "/tmp/vm.dtb", NULL));
	unlink(dtb);
}

static void test_missing_kernel(void **state)
{
	(void)state;
	fails(run(NULL), "--kernel: required when no spec file is given");
	fails(run("--cpus", "2", NULL),
	      "--kernel: required when no spec file is given");
}

static void test_missing_value(void **state)
{
	(void)state;
	fails(run("--kernel", NULL), "--kernel: missing value");
	fails(run("--kernel", kernel, "--param", NULL), "--param: missing value");
}

static void test_unknown_option(void **state)
{
	(void)state;
	fails(run("--kernel", kernel, "--foo", NULL),
	      "unknown option --foo (see kvmm run --help)");
	fails(run("--foo=bar", NULL), "unknown option --foo (see kvmm run --help)");
	fails(run("-c", "2", NULL), "unknown option -c (see kvmm run --help)");
	fails(run("--kern", kernel, NULL), "unknown option --kern (see kvmm run --help)");
}

static void test_repeated_param(void **state)
{
	const struct vm_spec *vm;

	(void)state;
	ok(run("--kernel", kernel, "--param", "a=1", "--param", "b=two",
	       "--param=a=3", "--param", "empty=", NULL));
	vm = &spec.vms[0];
	assert_int_equal(vm->nparams, 3);
	assert_string_equal(vm->params[0].key, "a");
	assert_string_equal(vm->params[0].value, "3");
	assert_string_equal(vm->params[1].key, "b");
	assert_string_equal(vm->params[1].value, "two");
	assert_string_equal(vm->params[2].key, "empty");
	assert_string_equal(vm->params[2].value, "");
}

static void test_last_flag_wins(void **state)
{
	(void)state;
	ok(run("--kernel", kernel, "--cpus", "2", "--cpus", "3", "--console",
	       "file:/tmp/a", "--console", "stdio", NULL));
	assert_int_equal(spec.vms[0].vcpus, 3);
	assert_int_equal(spec.vms[0].console, CONSOLE_STDIO);
	assert_null(spec.vms[0].console_path);
}

static void test_help(void **state)
{
	(void)state;
	assert_int_equal(run("--help", NULL), CLI_HELP);
	assert_null(spec.vms);
	assert_int_equal(run("-h", NULL), CLI_HELP);
	assert_int_equal(run("--kernel", kernel, "--cpus", "2", "-h", NULL), CLI_HELP);
	assert_null(spec.vms);
	assert_int_equal(run(one_vm, "--help", NULL), CLI_HELP);
	assert_null(spec.vms);
	/* a value that happens to look like --help is still a value */
	ok(run("--kernel", kernel, "--cmdline", "--help", NULL));
	assert_string_equal(spec.vms[0].cmdline, "--help");
}

static void test_usage_texts(void **state)
{
	static const char *const flags[] = {
		"--kernel PATH", "--initrd PATH", "--cmdline STR", "--cpus N",
		"--memory MIB", "--console", "--name NAME", "--on-reboot",
		"--param KEY=VALUE", "--dump-dtb FILE", "--help", "\"vms\"",
	};
	const char *run_usage = cli_run_usage(), *main_usage = cli_main_usage();
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (!strstr(run_usage, flags[i]))
			fail_msg("run usage lacks %s", flags[i]);
	assert_non_null(strstr(main_usage, "run [SPEC.json]"));
	assert_non_null(strstr(main_usage, "--version"));
	assert_non_null(strstr(main_usage, "--help"));
}

static void test_repeated_calls(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		ok(run("--kernel", kernel, "--cpus", "5", NULL));
		assert_int_equal(spec.vms[0].vcpus, 5);
		spec_free(&spec);
		fails(run("--bogus", NULL),
		      "unknown option --bogus (see kvmm run --help)");
	}
}

#define T(fn) cmocka_unit_test_teardown(fn, test_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_flags_only_defaults),
		T(test_flags_only_all),
		T(test_equals_form),
		T(test_spec_only),
		T(test_spec_with_overrides),
		T(test_flags_before_spec),
		T(test_spec_errors),
		T(test_spec_fixed_by_flags),
		T(test_bad_values),
		T(test_json_flags_strict),
		T(test_bad_files),
		T(test_config_file_keys),
		T(test_output_flags),
		T(test_missing_kernel),
		T(test_missing_value),
		T(test_unknown_option),
		T(test_repeated_param),
		T(test_last_flag_wins),
		T(test_help),
		T(test_usage_texts),
		T(test_repeated_calls),
	};

	return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
