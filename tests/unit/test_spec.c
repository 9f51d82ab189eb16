/* Unit tests for the spec module: JSON forms, defaults, paths, errors. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "spec.h"

#define HOST_MIB 4096

static char dir[PATH_MAX];     /* realpath of the fixture directory */
static char kernel[PATH_MAX + 16];  /* dir/vmlinuz */
static char initrd[PATH_MAX + 32];  /* dir/sub/initrd.img */
static char json[8192];
static char expect[8192];
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
	char tmpl[] = "/tmp/kvmm-spec-XXXXXX", sub[PATH_MAX + 8];

	(void)state;
	if (!mkdtemp(tmpl) || !realpath(tmpl, dir))
		return -1;
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", dir);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(initrd, sizeof(initrd), "%s/initrd.img", sub);
	if (mkdir(sub, 0755))
		return -1;
	file_write(kernel, "kernel");
	file_write(initrd, "initrd");
	spec_set_host_mem_mib(HOST_MIB);
	return 0;
}

static int fixture_teardown(void **state)
{
	char path[PATH_MAX + 32];

	(void)state;
	snprintf(path, sizeof(path), "%s/spec.json", dir);
	unlink(path);
	unlink(initrd);
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
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

static void __attribute__((format(printf, 1, 2))) json_fmt(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(json, sizeof(json), fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 1, 2))) expect_fmt(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(expect, sizeof(expect), fmt, ap);
	va_end(ap);
}

/* Loading `json` fails with exactly the message `msg`, leaving spec empty. */
static void load_fails(const char *msg)
{
	int ret = spec_load_string(json, dir, &spec, err, sizeof(err));

	assert_int_equal(ret, -EINVAL);
	assert_string_equal(err, msg);
	assert_null(spec.vms);
	assert_int_equal(spec.nvms, 0);
}

static void load_ok(void)
{
	int ret = spec_load_string(json, dir, &spec, err, sizeof(err));

	if (ret)
		fail_msg("unexpected error: %s", err);
}

/* A one-VM spec with a valid kernel plus `extra` members. */
static void vm_json(const char *extra)
{
	json_fmt("{\"kernel\": \"%s\"%s%s}", kernel, *extra ? ", " : "", extra);
}

/* ---- good specs ---------------------------------------------------------- */

static void test_defaults(void **state)
{
	(void)state;
	vm_json("");
	load_ok();
	assert_int_equal(spec.nvms, 1);
	assert_string_equal(spec.vms[0].name, "vm0");
	assert_string_equal(spec.vms[0].kernel, kernel);
	assert_null(spec.vms[0].initrd);
	assert_string_equal(spec.vms[0].cmdline, "console=ttyS0");
	assert_int_equal(spec.vms[0].vcpus, 1);
	assert_int_equal(spec.vms[0].memory_mib, 256);
	assert_int_equal(spec.vms[0].console, CONSOLE_STDIO);
	assert_null(spec.vms[0].console_path);
	assert_int_equal(spec.vms[0].on_reboot, REBOOT_EXIT);
	assert_int_equal(spec.vms[0].nparams, 0);
	assert_null(spec.vms[0].dump_dtb);
}

static void test_init_defaults_index(void **state)
{
	struct vm_spec vm;

	(void)state;
	vm_spec_init_defaults(&vm, 7);
	assert_string_equal(vm.name, "vm7");
	assert_string_equal(vm.cmdline, "console=ttyS0");
	vm_spec_free(&vm);
}

static void test_all_keys(void **state)
{
	const struct vm_spec *vm;

	(void)state;
	json_fmt("{\"name\": \"web-1.a_b\", \"kernel\": \"%s\", \"initrd\": \"%s\","
		 " \"cmdline\": \"console=ttyS0 root=/dev/vda\", \"vcpus\": 255,"
		 " \"memory_mib\": %d, \"console\": \"file:/tmp/con.log\","
		 " \"on_reboot\": \"restart\", \"params\": {},"
		 " \"dump_dtb\": \"/tmp/vm.dtb\"}", kernel, initrd, HOST_MIB);
	load_ok();
	vm = &spec.vms[0];
	assert_string_equal(vm->name, "web-1.a_b");
	assert_string_equal(vm->initrd, initrd);
	assert_string_equal(vm->cmdline, "console=ttyS0 root=/dev/vda");
	assert_int_equal(vm->vcpus, 255);
	assert_int_equal(vm->memory_mib, HOST_MIB);
	assert_int_equal(vm->console, CONSOLE_FILE);
	assert_string_equal(vm->console_path, "/tmp/con.log");
	assert_int_equal(vm->on_reboot, REBOOT_RESTART);
	assert_string_equal(vm->dump_dtb, "/tmp/vm.dtb");
}

static void test_console_none(void **state)
{
	(void)state;
	vm_json("\"console\": \"none\", \"memory_mib\": 16, \"vcpus\": 1");
	load_ok();
	assert_int_equal(spec.vms[0].console, CONSOLE_NONE);
	assert_null(spec.vms[0].console_path);
	assert_int_equal(spec.vms[0].memory_mib, 16);
}

static void test_vms_form(void **state)
{
	(void)state;
	json_fmt("{\"vms\": [{\"kernel\": \"%s\", \"vcpus\": 2},"
		 " {\"kernel\": \"%s\", \"name\": \"second\"},"
		 " {\"kernel\": \"%s\"}]}", kernel, kernel, kernel);
	load_ok();
	assert_int_equal(spec.nvms, 3);
	assert_string_equal(spec.vms[0].name, "vm0");
	assert_int_equal(spec.vms[0].vcpus, 2);
	assert_string_equal(spec.vms[1].name, "second");
	assert_int_equal(spec.vms[1].vcpus, 1);
	assert_string_equal(spec.vms[2].name, "vm2");
	assert_string_equal(spec.vms[2].cmdline, "console=ttyS0");
}

static void test_relative_paths_file(void **state)
{
	char path[PATH_MAX + 16], want[PATH_MAX + 32];
	const struct vm_spec *vm;
	int ret;

	(void)state;
	snprintf(path, sizeof(path), "%s/spec.json", dir);
	file_write(path, "{\"kernel\": \"vmlinuz\", \"initrd\": \"sub/initrd.img\",\n"
			 " \"console\": \"file:sub/console.log\",\n"
			 " \"dump_dtb\": \"out.dtb\"}\n");
	ret = spec_load_file(path, &spec, err, sizeof(err));
	if (ret)
		fail_msg("unexpected error: %s", err);
	vm = &spec.vms[0];
	assert_string_equal(vm->kernel, kernel);
	assert_string_equal(vm->initrd, initrd);
	snprintf(want, sizeof(want), "%s/sub/console.log", dir);
	assert_string_equal(vm->console_path, want);
	snprintf(want, sizeof(want), "%s/out.dtb", dir);
	assert_string_equal(vm->dump_dtb, want);
}

static void test_relative_paths_missing(void **state)
{
	char path[PATH_MAX + 16];

	(void)state;
	snprintf(path, sizeof(path), "%s/spec.json", dir);
	file_write(path, "{\"vms\": [{\"kernel\": \"vmlinuz\"},\n"
			 " {\"kernel\": \"vmlinuz\", \"initrd\": \"nope.img\"}]}\n");
	assert_int_equal(spec_load_file(path, &spec, err, sizeof(err)), -EINVAL);
	expect_fmt("vms[1].initrd: file not found: %s/nope.img", dir);
	assert_string_equal(err, expect);
	assert_null(spec.vms);
}

static void test_relative_base_dir_string(void **state)
{
	(void)state;
	json_fmt("{\"kernel\": \"vmlinuz\", \"initrd\": \"sub/initrd.img\"}");
	load_ok();
	assert_string_equal(spec.vms[0].kernel, kernel);
	assert_string_equal(spec.vms[0].initrd, initrd);
}

static void test_params(void **state)
{
	const struct vm_spec *vm;

	(void)state;
	vm_json("\"params\": {\"mode\": \"fast\", \"loops\": 42, \"delta\": -7,"
		" \"big\": 9007199254740992, \"empty\": \"\", \"a,b.c+d-e_f\": 0}");
	load_ok();
	vm = &spec.vms[0];
	assert_int_equal(vm->nparams, 6);
	assert_string_equal(vm->params[0].key, "mode");
	assert_string_equal(vm->params[0].value, "fast");
	assert_string_equal(vm->params[1].key, "loops");
	assert_string_equal(vm->params[1].value, "42");
	assert_string_equal(vm->params[2].value, "-7");
	assert_string_equal(vm->params[3].value, "9007199254740992");
	assert_string_equal(vm->params[4].value, "");
	assert_string_equal(vm->params[5].key, "a,b.c+d-e_f");
	assert_string_equal(vm->params[5].value, "0");
}

/* ---- errors ------------------------------------------------------------- */

static void test_unknown_key(void **state)
{
	(void)state;
	vm_json("\"foo\": 1");
	load_fails("foo: unknown key (expected one of: name, kernel, initrd, "
		   "cmdline, vcpus, memory_mib, console, on_reboot, params, dump_dtb, "
		   "disks, rng, sched, nets, introspect)");
	json_fmt("{\"vms\": [{\"kernel\": \"%s\"}, {\"kernel\": \"%s\", \"cpus\": 2}]}",
		 kernel, kernel);
	load_fails("vms[1].cpus: unknown key (expected one of: name, kernel, "
		   "initrd, cmdline, vcpus, memory_mib, console, on_reboot, params, "
		   "dump_dtb, disks, rng, sched, nets, introspect)");
	json_fmt("{\"vms\": [{\"kernel\": \"%s\"}], \"kernel\": \"%s\"}", kernel,
		 kernel);
	load_fails("kernel: unknown key (expected one of: vms, control)");
	vm_json("\"bad key\": 1");
	load_fails("\"bad key\": unknown key (expected one of: name, kernel, "
		   "initrd, cmdline, vcpus, memory_mib, console, on_reboot, params, "
		   "dump_dtb, disks, rng, sched, nets, introspect)");
}

static void test_wrong_types(void **state)
{
	(void)state;
	vm_json("\"vcpus\": \"two\"");
	load_fails("vcpus: expected an integer 1..255, got \"two\"");
	vm_json("\"vcpus\": \"2\"");
	load_fails("vcpus: expected an integer 1..255, got \"2\"");
	vm_json("\"memory_mib\": true");
	load_fails("memory_mib: expected an integer 16..4096, got true");
	json_fmt("{\"kernel\": 5}");
	load_fails("kernel: expected a non-empty path, got 5");
	vm_json("\"initrd\": null");
	load_fails("initrd: expected a non-empty path, got null");
	vm_json("\"cmdline\": [\"a\"]");
	load_fails("cmdline: expected a string, got an array");
	vm_json("\"name\": {}");
	load_fails("name: expected a name of 1..63 characters from [A-Za-z0-9_.-], "
		   "got an object");
	vm_json("\"console\": 1");
	load_fails("console: expected \"stdio\", \"none\" or \"file:PATH\", got 1");
	vm_json("\"on_reboot\": false");
	load_fails("on_reboot: expected \"restart\" or \"exit\", got false");
	vm_json("\"params\": []");
	load_fails("params: expected an object of string or integer values, "
		   "got an empty array");
	vm_json("\"dump_dtb\": 0");
	load_fails("dump_dtb: expected a non-empty path, got 0");
}

static void test_out_of_range(void **state)
{
	(void)state;
	vm_json("\"vcpus\": 0");
	load_fails("vcpus: expected an integer 1..255, got 0");
	vm_json("\"vcpus\": 256");
	load_fails("vcpus: expected an integer 1..255, got 256");
	vm_json("\"vcpus\": 1.5");
	load_fails("vcpus: expected an integer 1..255, got 1.5");
	vm_json("\"vcpus\": -1");
	load_fails("vcpus: expected an integer 1..255, got -1");
	vm_json("\"vcpus\": 1e300");
	load_fails("vcpus: expected an integer 1..255, got 1e+300");
	vm_json("\"memory_mib\": 15");
	load_fails("memory_mib: expected an integer 16..4096, got 15");
	vm_json("\"memory_mib\": 4097");
	load_fails("memory_mib: 4097 MiB exceeds host memory (4096 MiB)");
}

static void test_host_memory_override(void **state)
{
	(void)state;
	spec_set_host_mem_mib(23975);
	vm_json("\"memory_mib\": 100000");
	load_fails("memory_mib: 100000 MiB exceeds host memory (23975 MiB)");
	vm_json("\"memory_mib\": 23975");
	load_ok();
	assert_int_equal(spec.vms[0].memory_mib, 23975);
}

static void test_host_memory_proc(void **state)
{
	(void)state;
	spec_set_host_mem_mib(0);
	vm_json("\"memory_mib\": 1099511627776");
	assert_int_equal(spec_load_string(json, dir, &spec, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "memory_mib: 1099511627776 MiB exceeds host "
				    "memory ("));
	vm_json("\"memory_mib\": 16");
	load_ok();
}

static void test_bad_enums(void **state)
{
	(void)state;
	vm_json("\"console\": \"tty\"");
	load_fails("console: expected \"stdio\", \"none\" or \"file:PATH\", got \"tty\"");
	vm_json("\"console\": \"file:\"");
	load_fails("console: expected \"stdio\", \"none\" or \"file:PATH\", "
		   "got \"file:\"");
	vm_json("\"console\": \"STDIO\"");
	load_fails("console: expected \"stdio\", \"none\" or \"file:PATH\", "
		   "got \"STDIO\"");
	vm_json("\"on_reboot\": \"reboot\"");
	load_fails("on_reboot: expected \"restart\" or \"exit\", got \"reboot\"");
}

static void test_bad_names(void **state)
{
	(void)state;
	vm_json("\"name\": \"a b\"");
	load_fails("name: expected a name of 1..63 characters from [A-Za-z0-9_.-], "
		   "got \"a b\"");
	vm_json("\"name\": \"\"");
	load_fails("name: expected a name of 1..63 characters from [A-Za-z0-9_.-], "
		   "got \"\"");
	vm_json("\"name\": \"a\\nb\"");
	load_fails("name: expected a name of 1..63 characters from [A-Za-z0-9_.-], "
		   "got \"a\\nb\"");
	vm_json("\"name\": \"a\\u0001\\\"\"");
	load_fails("name: expected a name of 1..63 characters from [A-Za-z0-9_.-], "
		   "got \"a\\u0001\\\"\"");
	vm_json("\"name\": \"0123456789012345678901234567890123456789"
		"012345678901234567890123\"");
	assert_int_equal(spec_load_string(json, dir, &spec, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "name: expected a name of 1..63 characters"));
	vm_json("\"name\": \"012345678901234567890123456789012345678901234567890123456789012\"");
	load_ok();
	assert_int_equal(strlen(spec.vms[0].name), 63);
}

/* A VM's name is a directory of its own (its cgroup): never "." or "..". */
static void test_dot_names(void **state)
{
	struct vm_spec vm;

	(void)state;
	vm_json("\"name\": \"..\"");
	load_fails("name: expected a name other than \".\" and \"..\", got \"..\"");
	vm_json("\"name\": \".\"");
	load_fails("name: expected a name other than \".\" and \"..\", got \".\"");
	json_fmt("{\"vms\": [{\"kernel\": \"%s\", \"name\": \"a\"},"
		 " {\"kernel\": \"%s\", \"name\": \"..\"}]}", kernel, kernel);
	load_fails("vms[1].name: expected a name other than \".\" and \"..\", got \"..\"");
	vm_json("\"name\": \"...\"");
	load_ok();
	assert_string_equal(spec.vms[0].name, "...");
	/* a name set behind the parser's back is caught by the check */
	vm_spec_init_defaults(&vm, 0);
	snprintf(vm.name, sizeof(vm.name), "..");
	assert_int_equal(vm_spec_field_check(&vm, VM_FIELD_NAME, "vms[3].name", err,
					     sizeof(err)), -EINVAL);
	assert_string_equal(err, "vms[3].name: expected a name other than \".\" and \"..\", "
			    "got \"..\"");
	vm_spec_free(&vm);
}

static void test_duplicate_names(void **state)
{
	(void)state;
	json_fmt("{\"vms\": [{\"kernel\": \"%s\", \"name\": \"a\"},"
		 " {\"kernel\": \"%s\", \"name\": \"b\"},"
		 " {\"kernel\": \"%s\", \"name\": \"a\"}]}", kernel, kernel, kernel);
	load_fails("vms[2].name: duplicate name \"a\" (also used by vms[0])");
	json_fmt("{\"vms\": [{\"kernel\": \"%s\", \"name\": \"vm1\"},"
		 " {\"kernel\": \"%s\"}]}", kernel, kernel);
	load_fails("vms[1].name: duplicate name \"vm1\" (also used by vms[0])");
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	vm_json("\"vcpus\": 1, \"vcpus\": 2");
	load_fails("vcpus: duplicate key");
	vm_json("\"params\": {\"a\": 1, \"a\": 2}");
	load_fails("params.a: duplicate key");
	json_fmt("{\"vms\": [{\"kernel\": \"%s\"}], \"vms\": []}", kernel);
	load_fails("vms: duplicate key");
}

static void test_missing_kernel(void **state)
{
	(void)state;
	json_fmt("{\"vcpus\": 2}");
	load_fails("kernel: missing required key");
	json_fmt("{\"vms\": [{\"kernel\": \"%s\"}, {\"name\": \"x\"}]}", kernel);
	load_fails("vms[1].kernel: missing required key");
}

static void test_missing_files(void **state)
{
	(void)state;
	json_fmt("{\"kernel\": \"/nonexistent/vmlinuz\"}");
	load_fails("kernel: file not found: /nonexistent/vmlinuz");
	json_fmt("{\"vms\": [{\"kernel\": \"%s\"}, {\"kernel\": \"/x/y\"}]}", kernel);
	load_fails("vms[1].kernel: file not found: /x/y");
	vm_json("\"initrd\": \"missing.img\"");
	expect_fmt("initrd: file not found: %s/missing.img", dir);
	load_fails(expect);
	json_fmt("{\"kernel\": \"%s\"}", dir);
	expect_fmt("kernel: not a regular file: %s", dir);
	load_fails(expect);
	json_fmt("{\"kernel\": \"\"}");
	load_fails("kernel: expected a non-empty path, got \"\"");
}

/* Load `json` as an unprivileged user; 0 if the error is `expect`. */
static int load_as_nobody(void)
{
	if (setgid(65534) || setuid(65534))
		return 2;
	if (spec_load_string(json, dir, &spec, err, sizeof(err)) != -EINVAL)
		return 3;
	return strcmp(err, expect) ? 4 : 0;
}

static void test_unreadable_file(void **state)
{
	char path[PATH_MAX + 16];
	int status;
	pid_t pid;

	(void)state;
	snprintf(path, sizeof(path), "%s/secret", dir);
	file_write(path, "x");
	assert_int_equal(chmod(path, 0), 0);
	json_fmt("{\"kernel\": \"%s\"}", path);
	expect_fmt("kernel: file not readable: %s (Permission denied)", path);
	if (geteuid() != 0) {
		load_fails(expect);
	} else {
		/* root reads anything: check from a child that is not root */
		assert_int_equal(chmod(dir, 0755), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(load_as_nobody());
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	unlink(path);
}

static void test_bad_params(void **state)
{
	(void)state;
	vm_json("\"params\": {\"n\": 1.5}");
	load_fails("params.n: expected a string or an integer, got 1.5");
	vm_json("\"params\": {\"n\": true}");
	load_fails("params.n: expected a string or an integer, got true");
	vm_json("\"params\": {\"n\": {}}");
	load_fails("params.n: expected a string or an integer, got an object");
	vm_json("\"params\": {\"a b\": \"x\"}");
	load_fails("params: expected a key of 1..31 characters from "
		   "[A-Za-z0-9,._+-], got \"a b\"");
	vm_json("\"params\": {\"\": \"x\"}");
	load_fails("params: expected a key of 1..31 characters from "
		   "[A-Za-z0-9,._+-], got \"\"");
	vm_json("\"params\": {\"k123456789012345678901234567890x\": \"x\"}");
	load_fails("params: expected a key of 1..31 characters from "
		   "[A-Za-z0-9,._+-], got \"k123456789012345678901234567890x\"");
}

static void test_invalid_json(void **state)
{
	(void)state;
	json_fmt("{\n  \"kernel\": \"x\",\n  oops\n}\n");
	assert_int_equal(spec_load_string(json, dir, &spec, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "(root): invalid JSON at line 3, column "));
	json_fmt("{\"kernel\": \"x\"} trailing");
	load_fails("(root): invalid JSON at line 1, column 17");
	json_fmt("%s", "");
	load_fails("(root): invalid JSON at line 1, column 1");
	json_fmt("{\"vcpus\": 1,\n}");
	assert_int_equal(spec_load_string(json, dir, &spec, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "(root): invalid JSON at line 2"));
}

/* C strings end at U+0000: a string holding one is refused, never cut. */
static void test_nul_in_strings(void **state)
{
	(void)state;
	vm_json("\"name\": \"ab\\u0000/../x\"");
	load_fails("name: expected text without NUL (\\u0000) characters");
	vm_json("\"cmdline\": \"a\\u0000b\"");
	load_fails("cmdline: expected text without NUL (\\u0000) characters");
	vm_json("\"params\": {\"a\\u0000b\": 1}");
	load_fails("params.a: expected a key without NUL (\\u0000) characters");
	vm_json("\"disks\": [{\"path\": \"x\"}, {\"path\": \"x\\u0000y\"}]");
	load_fails("disks[1].path: expected text without NUL (\\u0000) characters");
	json_fmt("{\"vms\": [{\"kernel\": \"%s\"}, {\"kernel\": \"%s\", "
		 "\"sched\": {\"cgroup_parent\": \"k\\u0000/..\"}}]}", kernel, kernel);
	load_fails("vms[1].sched.cgroup_parent: expected text without NUL (\\u0000) characters");
	json_fmt("{\"kernel\\u0000x\": \"%s\"}", kernel);
	load_fails("kernel: expected a key without NUL (\\u0000) characters");
	json_fmt("{\"kernel\": \"%s\", \"control\": {\"path\": \"\\u0000\"}}", kernel);
	load_fails("control.path: expected text without NUL (\\u0000) characters");
	json_fmt("\"\\u0000\"");
	load_fails("(root): expected text without NUL (\\u0000) characters");
	/* an escaped backslash before u0000 is no NUL */
	vm_json("\"cmdline\": \"a\\\\u0000\"");
	load_ok();
	assert_string_equal(spec.vms[0].cmdline, "a\\u0000");
}

/* A NUL byte in a spec file ends its text there: what follows is an error. */
static void test_nul_byte_in_file(void **state)
{
	char path[PATH_MAX + 16];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/spec.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "{\"kernel\": \"vmlinuz\"}\n");
	fputc('\0', f);
	fprintf(f, "{\"vcpus\": 0}");
	assert_int_equal(fclose(f), 0);
	assert_int_equal(spec_load_file(path, &spec, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "(root): invalid JSON at line 2, column 1");
	assert_null(spec.vms);
}

static void test_bad_top_level(void **state)
{
	(void)state;
	json_fmt("[1, 2]");
	load_fails("(root): expected an object, got an array");
	json_fmt("\"vm\"");
	load_fails("(root): expected an object, got \"vm\"");
	json_fmt("{\"vms\": {}}");
	load_fails("vms: expected a non-empty array of VM objects, got an object");
	json_fmt("{\"vms\": []}");
	load_fails("vms: expected a non-empty array of VM objects, got an empty array");
	json_fmt("{\"vms\": [{\"kernel\": \"%s\"}, 3]}", kernel);
	load_fails("vms[1]: expected a VM object, got 3");
}

static void test_load_file_missing(void **state)
{
	(void)state;
	assert_int_equal(spec_load_file("/nonexistent/spec.json", &spec, err,
					sizeof(err)), -ENOENT);
	assert_string_equal(err, "/nonexistent/spec.json: cannot read spec file: "
			    "No such file or directory");
	assert_int_equal(spec_load_file(dir, &spec, err, sizeof(err)), -EINVAL);
	expect_fmt("%s: cannot read spec file: not a regular file", dir);
	assert_string_equal(err, expect);
}

static void test_load_file_syntax(void **state)
{
	char path[PATH_MAX + 16];

	(void)state;
	snprintf(path, sizeof(path), "%s/spec.json", dir);
	file_write(path, "{\n\"kernel\": \"vmlinuz\"\n\"vcpus\": 2}\n");
	assert_int_equal(spec_load_file(path, &spec, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "(root): invalid JSON at line 3, column 1");
}

static void test_parse_file_defers_host_checks(void **state)
{
	char path[PATH_MAX + 16];

	(void)state;
	snprintf(path, sizeof(path), "%s/spec.json", dir);
	file_write(path, "{\"initrd\": \"gone.img\", \"memory_mib\": 9000}\n");
	assert_int_equal(spec_parse_file(path, &spec, err, sizeof(err)), 0);
	assert_int_equal(spec.nvms, 1);
	assert_null(spec.vms[0].kernel);
	assert_int_equal(spec.vms[0].memory_mib, 9000);
	assert_int_equal(vm_spec_validate(&spec.vms[0], "", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "kernel: missing required key");
	spec_free(&spec);
	assert_int_equal(spec_load_file(path, &spec, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "kernel: missing required key");
	/* document errors are still reported */
	file_write(path, "{\"vcpus\": 0}\n");
	assert_int_equal(spec_parse_file(path, &spec, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "vcpus: expected an integer 1..255, got 0");
	assert_null(spec.vms);
}

static void test_validate_prefix(void **state)
{
	struct vm_spec vm;

	(void)state;
	vm_spec_init_defaults(&vm, 2);
	assert_int_equal(vm_spec_validate(&vm, "vms[2]", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "vms[2].kernel: missing required key");
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_KERNEL, kernel, NULL,
					   "kernel", err, sizeof(err)), 0);
	assert_int_equal(vm_spec_validate(&vm, NULL, err, sizeof(err)), 0);
	vm.vcpus = 0;
	assert_int_equal(vm_spec_validate(&vm, "vms[2]", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "vms[2].vcpus: expected an integer 1..255, got 0");
	vm.vcpus = 4;
	vm.memory_mib = 5000;
	assert_int_equal(vm_spec_validate(&vm, "", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "memory_mib: 5000 MiB exceeds host memory (4096 MiB)");
	vm_spec_free(&vm);
}

static void test_field_set_text(void **state)
{
	struct vm_spec vm;

	(void)state;
	vm_spec_init_defaults(&vm, 0);
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_MEMORY, "1024", NULL,
					   "--memory", err, sizeof(err)), 0);
	assert_int_equal(vm.memory_mib, 1024);
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_MEMORY, "1024k", NULL,
					   "--memory", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--memory: expected an integer 16..4096, got \"1024k\"");
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_CONSOLE, "file:c.log",
					   "/base", "--console", err, sizeof(err)), 0);
	assert_int_equal(vm.console, CONSOLE_FILE);
	assert_string_equal(vm.console_path, "/base/c.log");
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_CONSOLE, "stdio", NULL,
					   "--console", err, sizeof(err)), 0);
	assert_null(vm.console_path);
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_PARAMS, "a=1", NULL,
					   "--param", err, sizeof(err)), 0);
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_PARAMS, "a=2=3", NULL,
					   "--param", err, sizeof(err)), 0);
	assert_int_equal(vm.nparams, 1);
	assert_string_equal(vm.params[0].value, "2=3");
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_CMDLINE, "", NULL,
					   "--cmdline", err, sizeof(err)), 0);
	assert_string_equal(vm.cmdline, "");
	assert_string_equal(vm_field_key(VM_FIELD_MEMORY), "memory_mib");
	vm_spec_free(&vm);
}

/* Where kvmm writes or listens is checked with the spec, under its key. */
static void test_output_paths(void **state)
{
	char path[PATH_MAX + 64];

	(void)state;
	vm_json("\"dump_dtb\": \"/nonexistent/vm.dtb\"");
	load_fails("dump_dtb: cannot write /nonexistent/vm.dtb: No such file or directory");
	vm_json("\"dump_dtb\": \"sub\"");
	expect_fmt("dump_dtb: cannot write %s/sub: Is a directory", dir);
	load_fails(expect);
	json_fmt("{\"vms\": [{\"kernel\": \"%s\"}, {\"kernel\": \"%s\", \"name\": \"b\","
		 " \"dump_dtb\": \"vmlinuz/x.dtb\"}]}", kernel, kernel);
	expect_fmt("vms[1].dump_dtb: cannot write %s/vmlinuz/x.dtb: Not a directory", dir);
	load_fails(expect);
	vm_json("\"dump_dtb\": \"sub/new.dtb\"");
	load_ok();
	snprintf(path, sizeof(path), "%s/sub/new.dtb", dir);
	assert_string_equal(spec.vms[0].dump_dtb, path);
	assert_int_equal(access(path, F_OK), -1);	/* nothing made yet */
	spec_free(&spec);
	/* a socket address holds 107 bytes and a NUL */
	json_fmt("{\"kernel\": \"%s\", \"control\": {\"path\": \"/tmp/%0103d\"}}", kernel, 0);
	load_fails("control.path: expected a socket path of at most 107 bytes, got 108");
	json_fmt("{\"kernel\": \"%s\", \"control\": {\"path\": \"/tmp/%0102d\"}}", kernel, 0);
	load_ok();
	assert_int_equal(strlen(spec.control_path), 107);
	spec_free(&spec);
	json_fmt("{\"kernel\": \"%s\", \"control\": {\"path\": \"\"}}", kernel);
	load_fails("control.path: expected a socket path, got \"\"");
	json_fmt("{\"kernel\": \"%s\", \"control\": {\"path\": \"logs/ctl.sock\"}}", kernel);
	expect_fmt("control.path: cannot create %s/logs/ctl.sock: No such file or directory", dir);
	load_fails(expect);
	/* the console's file too */
	vm_json("\"console\": \"file:logs/console.log\"");
	expect_fmt("console: cannot write %s/logs/console.log: No such file or directory", dir);
	load_fails(expect);
	vm_json("\"console\": \"file:sub\"");
	expect_fmt("console: cannot write %s/sub: Is a directory", dir);
	load_fails(expect);
}

/* A synthetic bzImage (boot protocol 2.15, 64-bit entry) whose header
 * says it takes command lines of up to cmdline_size bytes. */
static void bzimage_write(const char *path, uint32_t cmdline_size)
{
	static uint8_t img[16 * 1024];
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	memset(img, 0, sizeof(img));
	img[0x1F1] = 3;                         /* setup_sects */
	img[0x1FE] = 0x55;                      /* boot_flag */
	img[0x1FF] = 0xAA;
	img[0x200] = 0xEB;                      /* jump over the header */
	img[0x201] = 0x26C - 0x202;
	memcpy(img + 0x202, "HdrS", 4);
	img[0x206] = 0x0F;                      /* version 2.15 */
	img[0x207] = 0x02;
	img[0x211] = 0x01;                      /* loadflags: LOADED_HIGH */
	img[0x236] = 0x01;                      /* xloadflags: XLF_KERNEL_64 */
	memcpy(img + 0x238, &cmdline_size, 4);  /* little endian, as the host */
	assert_int_equal(fwrite(img, sizeof(img), 1, f), 1);
	assert_int_equal(fclose(f), 0);
}

/* The command line and the params must fit the device tree, and a bzImage
 * sets a limit of its own for the command line. */
static void test_cmdline_and_params_limits(void **state)
{
	char path[PATH_MAX + 16], *big = malloc(SPEC_CMDLINE_MAX + 2);
	struct vm_spec vm;
	size_t n = 0;

	(void)state;
	assert_non_null(big);
	vm_spec_init_defaults(&vm, 0);
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_KERNEL, kernel, NULL, "kernel", err,
					   sizeof(err)), 0);
	memset(big, 'a', SPEC_CMDLINE_MAX + 1);
	big[SPEC_CMDLINE_MAX + 1] = '\0';
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_CMDLINE, big, NULL, "--cmdline", err,
					   sizeof(err)), 0);
	assert_int_equal(vm_spec_validate(&vm, "vms[1]", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "vms[1].cmdline: expected at most 16384 bytes, got 16385");
	big[SPEC_CMDLINE_MAX] = '\0';
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_CMDLINE, big, NULL, "--cmdline", err,
					   sizeof(err)), 0);
	assert_int_equal(vm_spec_validate(&vm, "", err, sizeof(err)), 0);
	/* a bzImage's own limit */
	snprintf(path, sizeof(path), "%s/bzImage", dir);
	bzimage_write(path, 2047);
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_KERNEL, path, NULL, "kernel", err,
					   sizeof(err)), 0);
	assert_int_equal(vm_spec_field_check(&vm, VM_FIELD_CMDLINE, "--cmdline", err,
					     sizeof(err)), -EINVAL);
	assert_string_equal(err, "--cmdline: expected at most 2047 bytes (the kernel's limit), "
			    "got 16384");
	big[2047] = '\0';
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_CMDLINE, big, NULL, "--cmdline", err,
					   sizeof(err)), 0);
	assert_int_equal(vm_spec_validate(&vm, "", err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_KERNEL, kernel, NULL, "kernel", err,
					   sizeof(err)), 0);
	/* params: their count, then their text */
	n = (size_t)snprintf(json, sizeof(json), "{\"kernel\": \"%s\", \"params\": {", kernel);
	for (int i = 0; i <= SPEC_PARAMS_MAX; i++)
		n += (size_t)snprintf(json + n, sizeof(json) - n, "%s\"k%d\": %d", i ? ", " : "", i, i);
	snprintf(json + n, sizeof(json) - n, "}}");
	load_fails("params: expected at most 256 entries, got 257");
	memset(big, 'a', SPEC_PARAMS_TEXT_MAX / 2);
	big[SPEC_PARAMS_TEXT_MAX / 2] = '\0';
	big[0] = 'x';
	big[1] = '=';
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_PARAMS, big, NULL, "--param", err,
					   sizeof(err)), 0);
	big[0] = 'y';
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_PARAMS, big, NULL, "--param", err,
					   sizeof(err)), 0);
	assert_int_equal(vm_spec_validate(&vm, "", err, sizeof(err)), 0);
	big[0] = 'z';
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_PARAMS, big, NULL, "--param", err,
					   sizeof(err)), 0);
	assert_int_equal(vm_spec_field_check(&vm, VM_FIELD_PARAMS, "--param", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "--param: expected at most 16384 bytes of keys and values, "
			    "got 24573");
	vm_spec_free(&vm);
	free(big);
}

static void test_long_value_one_line(void **state)
{
	char big[1000];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = '\n';
	json_fmt("{\"kernel\": \"%s\", \"console\": \"%s\"}", kernel, big);
	assert_int_equal(spec_load_string(json, dir, &spec, err, sizeof(err)),
			 -EINVAL);
	assert_null(strchr(err, '\n'));
	assert_non_null(strstr(err, "...\""));
	assert_true(strlen(err) < 200);
}

/* ---- devices: disks and rng ---------------------------------------------- */

static void test_disks_and_rng(void **state)
{
	(void)state;
	json_fmt("{\"kernel\": \"%s\", \"rng\": true, \"disks\": ["
		 "{\"path\": \"%s\", \"read_only\": true, \"serial\": \"abc\", "
		 "\"cache\": \"none\", \"queues\": 3, \"coalesce_us\": 0}, "
		 "{\"path\": \"sub/initrd.img\"}]}", kernel, kernel);
	load_ok();
	assert_int_equal(spec.vms[0].disks[0].queues, 3);
	assert_int_equal(spec.vms[0].disks[0].coalesce_us, 0);
	assert_int_equal(spec.vms[0].disks[1].queues, 0);     /* one per vCPU */
	assert_int_equal(spec.vms[0].disks[1].coalesce_us, SPEC_DISK_COALESCE_DEFAULT_US);
	assert_true(spec.vms[0].rng);
	assert_int_equal(spec.vms[0].ndisks, 2);
	assert_string_equal(spec.vms[0].disks[0].path, kernel);
	assert_true(spec.vms[0].disks[0].read_only);
	assert_string_equal(spec.vms[0].disks[0].serial, "abc");
	assert_int_equal(spec.vms[0].disks[0].cache, DISK_CACHE_NONE);
	assert_string_equal(spec.vms[0].disks[1].path, initrd);  /* relative to the spec */
	assert_false(spec.vms[0].disks[1].read_only);
	assert_int_equal(spec.vms[0].disks[1].cache, DISK_CACHE_WRITEBACK);
	spec_free(&spec);
	vm_json("");
	load_ok();
	assert_false(spec.vms[0].rng);
	assert_int_equal(spec.vms[0].ndisks, 0);
}

static void test_bad_disks(void **state)
{
	(void)state;
	json_fmt("{\"kernel\": \"%s\", \"disks\": [{\"path\": \"%s\"}, "
		 "{\"path\": \"%s\", \"cache\": \"x\"}]}", kernel, kernel, kernel);
	load_fails("disks[1].cache: expected \"none\" or \"writeback\", got \"x\"");
	vm_json("\"disks\": {}");
	load_fails("disks: expected an array of disk objects, got an object");
	vm_json("\"disks\": [{\"read_only\": true}]");
	load_fails("disks[0].path: missing required key");
	vm_json("\"disks\": [{\"path\": \"x\", \"size\": 1}]");
	load_fails("disks[0].size: unknown key (expected one of: path, read_only, serial, cache, "
		   "queues, coalesce_us)");
	vm_json("\"disks\": [{\"path\": \"x\", \"queues\": 9}]");
	load_fails("disks[0].queues: expected an integer from 1 to 8, got 9");
	vm_json("\"disks\": [{\"path\": \"x\", \"queues\": 1.5}]");
	load_fails("disks[0].queues: expected an integer from 1 to 8, got 1.5");
	vm_json("\"disks\": [{\"path\": \"x\", \"coalesce_us\": \"5\"}]");
	load_fails("disks[0].coalesce_us: expected an integer, got \"5\"");
	vm_json("\"disks\": [{\"path\": \"x\", \"coalesce_us\": 10001}]");
	load_fails("disks[0].coalesce_us: expected an integer from 0 to 10000, got 10001");
	vm_json("\"disks\": [{\"path\": \"x\", \"read_only\": 1}]");
	load_fails("disks[0].read_only: expected true or false, got 1");
	vm_json("\"disks\": [{\"path\": \"x\", \"serial\": \"123456789012345678901\"}]");
	load_fails("disks[0].serial: expected at most 20 printable ASCII characters, "
		   "got \"123456789012345678901\"");
	json_fmt("{\"kernel\": \"%s\", \"disks\": [{\"path\": \"%s/nope.img\"}]}", kernel, dir);
	expect_fmt("disks[0].path: %s/nope.img: No such file or directory", dir);
	load_fails(expect);
	vm_json("\"rng\": \"yes\"");
	load_fails("rng: expected true or false, got \"yes\"");
}

static void test_disk_flag_text(void **state)
{
	struct vm_spec vm;

	(void)state;
	vm_spec_init_defaults(&vm, 0);
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_DISKS, "/a.img,ro,serial=s1,cache=none",
					   NULL, "--disk", err, sizeof(err)), 0);
	assert_int_equal(vm.ndisks, 1);
	assert_string_equal(vm.disks[0].path, "/a.img");
	assert_true(vm.disks[0].read_only);
	assert_string_equal(vm.disks[0].serial, "s1");
	assert_int_equal(vm.disks[0].cache, DISK_CACHE_NONE);
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_DISKS, "/c.img,queues=2,coalesce_us=250",
					   NULL, "--disk", err, sizeof(err)), 0);
	assert_int_equal(vm.disks[1].queues, 2);
	assert_int_equal(vm.disks[1].coalesce_us, 250);
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_DISKS, "/b.img,queues=0", NULL, "--disk",
					   err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--disk: expected an integer from 1 to 8, got 0");
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_DISKS, "/b.img,coalesce_us=1x", NULL,
					   "--disk", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--disk: expected an integer from 0 to 10000, got 1x");
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_DISKS, "/b.img,cache=x", NULL, "--disk",
					   err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--disk: expected \"none\" or \"writeback\", got \"x\"");
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_DISKS, "/b.img,bogus", NULL, "--disk",
					   err, sizeof(err)), -EINVAL);
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_RNG, "true", NULL, "--rng", err,
					   sizeof(err)), 0);
	assert_true(vm.rng);
	assert_int_equal(vm.ndisks, 2);
	vm_spec_free(&vm);
}

/* Each option of --disk may be given once, as with --net: none silently wins. */
static void test_disk_flag_repeated_option(void **state)
{
	static const char *const cases[][2] = {
		{ "/a.img,serial=a,serial=b", "--disk: serial= given twice" },
		{ "/a.img,queues=1,ro,queues=2", "--disk: queues= given twice" },
		{ "/a.img,cache=none,cache=writeback", "--disk: cache= given twice" },
		{ "/a.img,coalesce_us=0,coalesce_us=0", "--disk: coalesce_us= given twice" },
		{ "/a.img,ro,ro", "--disk: ro or rw given twice" },
		{ "/a.img,ro,rw", "--disk: ro or rw given twice" },
	};
	struct vm_spec vm;

	(void)state;
	vm_spec_init_defaults(&vm, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_DISKS, cases[i][0], NULL, "--disk",
						   err, sizeof(err)), -EINVAL);
		assert_string_equal(err, cases[i][1]);
	}
	assert_int_equal(vm.ndisks, 0);
	assert_int_equal(vm_spec_field_set(&vm, VM_FIELD_DISKS, "/a.img,rw,serial=s,cache=none,"
					   "queues=2,coalesce_us=9", NULL, "--disk", err,
					   sizeof(err)), 0);
	assert_int_equal(vm.ndisks, 1);
	assert_false(vm.disks[0].read_only);
	assert_int_equal(vm.disks[0].coalesce_us, 9);
	vm_spec_free(&vm);
}

/* ---- Firecracker config files ------------------------------------------- */

/* `json` written to a file and loaded as a Firecracker config. */
static int fc_load(void)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/spec.json", dir);
	file_write(path, json);
	return spec_fc_load_file(path, true, &spec, err, sizeof(err));
}

static void fc_fails(const char *msg)
{
	assert_int_equal(fc_load(), -EINVAL);
	assert_string_equal(err, msg);
	assert_null(spec.vms);
}

static void test_fc_strict_text(void **state)
{
	(void)state;
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\","
		 " \"boot_args\": \"a\\u0000b\"}}", kernel);
	fc_fails("boot-source.boot_args: expected text without NUL (\\u0000) characters");
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\"}}\n junk", kernel);
	fc_fails("(root): invalid JSON at line 2, column 2");
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\"}} {}", kernel);
	assert_int_equal(fc_load(), -EINVAL);
	assert_non_null(strstr(err, "(root): invalid JSON at line 1, column "));
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\", \"boot_args\": \"a b\"}}\n",
		 kernel);
	if (fc_load())
		fail_msg("unexpected error: %s", err);
	assert_string_equal(spec.vms[0].kernel, kernel);
	assert_string_equal(spec.vms[0].cmdline, "a b");
}

/* A Firecracker key gets a spec file's types: "2" is no integer, 5 no path. */
static void test_fc_types(void **state)
{
	(void)state;
	json_fmt("{\"boot-source\": {\"kernel_image_path\": 5, \"boot_args\": 7},"
		 " \"machine-config\": {\"vcpu_count\": \"2\", \"mem_size_mib\": \"32\"}}");
	fc_fails("boot-source.kernel_image_path: expected a non-empty path, got 5");
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\", \"boot_args\": 7}}", kernel);
	fc_fails("boot-source.boot_args: expected a string, got 7");
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\"},"
		 " \"machine-config\": {\"vcpu_count\": \"2\", \"mem_size_mib\": 32}}", kernel);
	fc_fails("machine-config.vcpu_count: expected an integer 1..255, got \"2\"");
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\"},"
		 " \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 32.5}}", kernel);
	fc_fails("machine-config.mem_size_mib: expected an integer 16..4096, got 32.5");
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\"},"
		 " \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 32}}", kernel);
	if (fc_load())
		fail_msg("unexpected error: %s", err);
	assert_int_equal(spec.vms[0].vcpus, 2);
	assert_int_equal(spec.vms[0].memory_mib, 32);
}

/* Every key once per object, at any depth, as in a kvmm spec. */
static void test_fc_duplicate_keys(void **state)
{
	(void)state;
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\"},"
		 " \"boot-source\": {\"kernel_image_path\": \"%s\"}}", kernel, kernel);
	fc_fails("boot-source: duplicate key");
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\", \"boot_args\": \"a\","
		 " \"boot_args\": \"b\"}}", kernel);
	fc_fails("boot-source.boot_args: duplicate key");
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\"},"
		 " \"machine-config\": {\"vcpu_count\": 1, \"vcpu_count\": 2}}", kernel);
	fc_fails("machine-config.vcpu_count: duplicate key");
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"drives\": [{\"drive_id\": \"a\","
		 " \"path_on_host\": \"%s\", \"is_root_device\": false, \"is_read_only\": false,"
		 " \"is_read_only\": true}]}", kernel, kernel);
	fc_fails("drives[0].is_read_only: duplicate key");
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"network-interfaces\": "
		 "[{\"host_dev_name\": \"t0\", \"host_dev_name\": \"t1\"}]}", kernel);
	fc_fails("network-interfaces[0].host_dev_name: duplicate key");
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\"},"
		 " \"entropy\": {\"rate_limiter\": null, \"rate_limiter\": null}}", kernel);
	fc_fails("entropy.rate_limiter: duplicate key");
}

/* Drives and NICs are reported under their Firecracker keys, and their
 * values are taken as they are (a comma in a path is part of the path). */
static void test_fc_drives_and_nics(void **state)
{
	(void)state;
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"drives\": ["
		 "{\"drive_id\": \"d\", \"path_on_host\": \"%s\", \"is_root_device\": false},"
		 "{\"drive_id\": \"r\", \"path_on_host\": \"/nonexistent\", \"is_root_device\": true,"
		 " \"is_read_only\": false}]}", kernel, kernel);
	fc_fails("drives[1].path_on_host: /nonexistent: No such file or directory");
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"drives\": ["
		 "{\"drive_id\": \"d\", \"path_on_host\": \"%s,serial=x\", \"is_root_device\": false}]}",
		 kernel, kernel);
	expect_fmt("drives[0].path_on_host: %s,serial=x: No such file or directory", kernel);
	fc_fails(expect);
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"network-interfaces\": "
		 "[{\"host_dev_name\": \"t0,mac=52:54:00:00:00:01\"}]}", kernel);
	fc_fails("network-interfaces[0].host_dev_name: expected an interface name of 1..15 "
		 "characters from [A-Za-z0-9_.-], got \"t0,mac=52:54:00:00:00:01\"");
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"network-interfaces\": "
		 "[{\"host_dev_name\": \"t0\", \"guest_mac\": \"52:54:00:00:00:01,tap=t1\"}]}", kernel);
	fc_fails("network-interfaces[0].guest_mac: expected a unicast MAC address like "
		 "\"52:54:00:12:34:56\", got \"52:54:00:00:00:01,tap=t1\"");
	json_fmt("{\"boot-source\": {\"kernel_image_path\": \"%s\", \"boot_args\": \"quiet\"},"
		 " \"drives\": [{\"drive_id\": \"d\", \"path_on_host\": \"%s\", \"is_root_device\": false},"
		 " {\"drive_id\": \"r\", \"path_on_host\": \"%s\", \"is_root_device\": true,"
		 " \"is_read_only\": true}], \"network-interfaces\": [{\"iface_id\": \"eth0\","
		 " \"host_dev_name\": \"t0\", \"guest_mac\": \"52:54:00:00:00:01\"}]}",
		 kernel, initrd, kernel);
	if (fc_load())
		fail_msg("unexpected error: %s", err);
	assert_int_equal(spec.vms[0].ndisks, 2);
	assert_string_equal(spec.vms[0].disks[0].path, kernel);	/* the root device */
	assert_true(spec.vms[0].disks[0].read_only);
	assert_string_equal(spec.vms[0].disks[1].path, initrd);
	assert_false(spec.vms[0].disks[1].read_only);
	assert_string_equal(spec.vms[0].cmdline, "quiet root=/dev/vda ro");
	assert_int_equal(spec.vms[0].nnets, 1);
	assert_string_equal(spec.vms[0].nets[0].tap, "t0");
	assert_true(spec.vms[0].nets[0].has_mac);
	assert_int_equal(spec.vms[0].nets[0].mac[5], 1);
}

/* The shipped configs use only known keys and sane values. */
static void test_shipped_configs(void **state)
{
	static const char *const files[] = {
		"configs/default.json", "configs/two-vms.json",
		"configs/generic-kernel.json", "configs/reboot-restart.json",
	};
	size_t i;
	int ret;

	(void)state;
	if (access(files[0], R_OK))
		skip();  /* not run from the source tree */
	spec_set_host_mem_mib(65536);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		ret = spec_load_file(files[i], &spec, err, sizeof(err));
		if (ret && !(strstr(err, "file not found: ") &&
			     strstr(err, "/build/guest/")))
			fail_msg("%s: %s", files[i], err);
		spec_free(&spec);
	}
}

#define T(fn) cmocka_unit_test_teardown(fn, test_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_defaults),
		T(test_init_defaults_index),
		T(test_all_keys),
		T(test_console_none),
		T(test_vms_form),
		T(test_relative_paths_file),
		T(test_relative_paths_missing),
		T(test_relative_base_dir_string),
		T(test_params),
		T(test_unknown_key),
		T(test_wrong_types),
		T(test_out_of_range),
		T(test_host_memory_override),
		T(test_host_memory_proc),
		T(test_bad_enums),
		T(test_bad_names),
		T(test_dot_names),
		T(test_duplicate_names),
		T(test_duplicate_keys),
		T(test_missing_kernel),
		T(test_missing_files),
		T(test_unreadable_file),
		T(test_bad_params),
		T(test_invalid_json),
		T(test_nul_in_strings),
		T(test_nul_byte_in_file),
		T(test_bad_top_level),
		T(test_load_file_missing),
		T(test_load_file_syntax),
		T(test_parse_file_defers_host_checks),
		T(test_validate_prefix),
		T(test_field_set_text),
		T(test_long_value_one_line),
		T(test_cmdline_and_params_limits),
		T(test_output_paths),
		T(test_shipped_configs),
		T(test_disks_and_rng),
		T(test_bad_disks),
		T(test_disk_flag_text),
		T(test_disk_flag_repeated_option),
		T(test_fc_strict_text),
		T(test_fc_types),
		T(test_fc_duplicate_keys),
		T(test_fc_drives_and_nics),
	};

	return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
