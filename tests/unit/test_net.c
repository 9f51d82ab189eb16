/* Unit tests for the NIC settings: MAC parsing and defaults, the "nets"
 * spec key and the --net flag. */
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

#define MAX_ARGS 32

static char dir[PATH_MAX];
static char kernel[PATH_MAX + 16];
static char json[8192];
static char err[512];
static struct kvmm_spec spec;

static int fixture_setup(void **state)
{
	char tmpl[] = "/tmp/kvmm-net-XXXXXX";
	FILE *f;

	(void)state;
	if (!mkdtemp(tmpl) || !realpath(tmpl, dir))
		return -1;
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", dir);
	f = fopen(kernel, "w");
	if (!f)
		return -1;
	fputs("kernel", f);
	fclose(f);
	spec_set_host_mem_mib(4096);
	return 0;
}

static int fixture_teardown(void **state)
{
	(void)state;
	unlink(kernel);
	rmdir(dir);
	spec_set_host_mem_mib(0);
	return 0;
}

static int test_teardown(void **state)
{
	(void)state;
	spec_free(&spec);
	return 0;
}

/* ---- MAC addresses --------------------------------------------------------- */

static void test_mac_parse_good(void **state)
{
	static const uint8_t want[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
	uint8_t mac[6];

	(void)state;
	assert_true(spec_mac_parse("52:54:00:ab:cd:ef", mac));
	assert_memory_equal(mac, want, 6);
	assert_true(spec_mac_parse("52:54:00:AB:Cd:eF", mac));
	assert_memory_equal(mac, want, 6);
	assert_true(spec_mac_parse("02:00:00:00:00:01", mac));
	assert_true(spec_mac_parse("fe:ff:ff:ff:ff:ff", mac));
}

static void test_mac_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "52:54:00:ab:cd", "52:54:00:ab:cd:ef:01", "52:54:00:ab:cd:e",
		"52-54-00-ab-cd-ef", "52:54:00:ab:cd:eg", "5254.00ab.cdef",
		" 52:54:00:ab:cd:ef", "52:54:00:ab:cd:ef ", "52:54:00:ab:cd:+f",
		"01:00:5e:00:00:01",	/* multicast */
		"ff:ff:ff:ff:ff:ff",	/* broadcast */
		"00:00:00:00:00:00",
	};
	uint8_t mac[6] = { 1, 2, 3, 4, 5, 6 };
	static const uint8_t untouched[6] = { 1, 2, 3, 4, 5, 6 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (spec_mac_parse(bad[i], mac))
			fail_msg("accepted \"%s\"", bad[i]);
		assert_memory_equal(mac, untouched, 6);
	}
}

static void test_mac_default(void **state)
{
	uint8_t a[6], b[6], c[6], d[6];

	(void)state;
	spec_mac_default("web", 0, a);
	spec_mac_default("web", 0, b);
	spec_mac_default("web", 1, c);
	spec_mac_default("db", 0, d);
	assert_memory_equal(a, b, 6);		/* same on every run */
	assert_memory_not_equal(a, c, 6);	/* per NIC */
	assert_memory_not_equal(a, d, 6);	/* per VM */
	assert_int_equal(a[0], 0x52);		/* locally administered, unicast */
	assert_int_equal(a[1], 0x54);
	assert_int_equal(c[0] & 1, 0);
}

/* ---- the spec key ------------------------------------------------------------ */

static int __attribute__((format(printf, 1, 2))) load(const char *fmt, ...)
{
	char nets[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(nets, sizeof(nets), fmt, ap);
	va_end(ap);
	snprintf(json, sizeof(json), "{\"kernel\": \"%s\", %s}", kernel, nets);
	spec_free(&spec);
	return spec_load_string(json, NULL, &spec, err, sizeof(err));
}

static void load_fails(const char *msg)
{
	assert_int_equal(-EINVAL, spec_load_string(json, NULL, &spec, err, sizeof(err)));
	assert_string_equal(err, msg);
}

static void test_nets_json(void **state)
{
	const struct vm_spec *vm;

	(void)state;
	assert_int_equal(load("\"nets\": [{\"tap\": \"kvmmtap0\", \"mac\": \"52:54:00:12:34:56\"},"
			      " {\"tap\": \"t-1.x_y\"}]"), 0);
	vm = &spec.vms[0];
	assert_int_equal(vm->nnets, 2);
	assert_string_equal(vm->nets[0].tap, "kvmmtap0");
	assert_true(vm->nets[0].has_mac);
	assert_int_equal(vm->nets[0].mac[5], 0x56);
	assert_string_equal(vm->nets[1].tap, "t-1.x_y");
	assert_false(vm->nets[1].has_mac);
	assert_int_equal(load("\"nets\": []"), 0);
	assert_int_equal(spec.vms[0].nnets, 0);
	assert_int_equal(load("\"name\": \"a\""), 0);
	assert_int_equal(spec.vms[0].nnets, 0);
}

static void test_nets_json_errors(void **state)
{
	(void)state;
	load("\"nets\": {}");
	load_fails("nets: expected an array of NIC objects, got an object");
	load("\"nets\": [\"tap0\"]");
	load_fails("nets[0]: expected a NIC object, got \"tap0\"");
	load("\"nets\": [{\"mac\": \"52:54:00:12:34:56\"}]");
	load_fails("nets[0].tap: missing required key");
	load("\"nets\": [{\"tap\": \"a\"}, {\"tap\": \"b\", \"model\": \"e1000\"}]");
	load_fails("nets[1].model: unknown key (expected one of: tap, mac)");
	load("\"nets\": [{\"tap\": \"a\", \"tap\": \"b\"}]");
	load_fails("nets[0].tap: duplicate key");
	load("\"nets\": [{\"tap\": 5}]");
	load_fails("nets[0].tap: expected an interface name, got 5");
	load("\"nets\": [{\"tap\": \"a\", \"mac\": null}]");
	load_fails("nets[0].mac: expected a MAC address string, got null");
	load("\"nets\": [{\"tap\": \"a\", \"mac\": \"01:00:5e:00:00:01\"}]");
	load_fails("nets[0].mac: expected a unicast MAC address like \"52:54:00:12:34:56\", "
		   "got \"01:00:5e:00:00:01\"");
	load("\"nets\": [{\"tap\": \"sixteen-chars-xx\"}]");
	load_fails("nets[0].tap: expected an interface name of 1..15 characters from "
		   "[A-Za-z0-9_.-], got \"sixteen-chars-xx\"");
	load("\"nets\": [{\"tap\": \"a/b\"}]");
	load_fails("nets[0].tap: expected an interface name of 1..15 characters from "
		   "[A-Za-z0-9_.-], got \"a/b\"");
	load("\"nets\": [{\"tap\": \"..\"}]");
	load_fails("nets[0].tap: expected an interface name of 1..15 characters from "
		   "[A-Za-z0-9_.-], got \"..\"");
	load("\"nets\": [{\"tap\": \"a\"}, {\"tap\": \"b\"}, {\"tap\": \"a\"}]");
	load_fails("nets[2].tap: duplicate TAP device \"a\" (also used by nets[0])");
	load("\"nets\": [{\"tap\": \"a\", \"mac\": \"52:54:00:00:00:01\"},"
	     " {\"tap\": \"b\", \"mac\": \"52:54:00:00:00:01\"}]");
	load_fails("nets[1].mac: duplicate MAC address (also used by nets[0])");
	load("\"nets\": [{\"tap\": \"a\"}, {\"tap\": \"b\"}, {\"tap\": \"c\"}, {\"tap\": \"d\"},"
	     " {\"tap\": \"e\"}, {\"tap\": \"f\"}, {\"tap\": \"g\"}, {\"tap\": \"h\"}, {\"tap\": \"i\"}]");
	load_fails("nets[8].tap: at most 8 NICs");
}

/* ---- the --net flag ------------------------------------------------------------ */

static int run(const char *arg, ...)
{
	char *argv[MAX_ARGS + 1];
	int argc = 0;
	va_list ap;

	spec_free(&spec);
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

static void flag_fails(const char *value, const char *msg)
{
	assert_int_equal(run("--kernel", kernel, "--net", value, NULL), -EINVAL);
	assert_string_equal(err, msg);
	assert_null(spec.vms);
}

static void test_net_flag(void **state)
{
	char spec_path[PATH_MAX + 16];
	const struct vm_spec *vm;
	FILE *f;

	(void)state;
	assert_int_equal(run("--kernel", kernel, "--net", "tap=t0", "--net=mac=52:54:00:00:00:02,tap=t1",
			     NULL), 0);
	vm = &spec.vms[0];
	assert_int_equal(vm->nnets, 2);
	assert_string_equal(vm->nets[0].tap, "t0");
	assert_false(vm->nets[0].has_mac);
	assert_string_equal(vm->nets[1].tap, "t1");
	assert_true(vm->nets[1].has_mac);
	assert_int_equal(vm->nets[1].mac[5], 2);

	/* appended after the spec's NICs, duplicates checked across both */
	snprintf(spec_path, sizeof(spec_path), "%s/net.json", dir);
	f = fopen(spec_path, "w");
	assert_non_null(f);
	fprintf(f, "{\"kernel\": \"vmlinuz\", \"nets\": [{\"tap\": \"s0\"}]}");
	fclose(f);
	assert_int_equal(run(spec_path, "--net", "tap=t0", NULL), 0);
	assert_int_equal(spec.vms[0].nnets, 2);
	assert_string_equal(spec.vms[0].nets[0].tap, "s0");
	assert_string_equal(spec.vms[0].nets[1].tap, "t0");
	assert_int_equal(run(spec_path, "--net", "tap=s0", NULL), -EINVAL);
	assert_string_equal(err, "--net: duplicate TAP device \"s0\" (also used by nets[0])");
	unlink(spec_path);
}

static void test_net_flag_errors(void **state)
{
	(void)state;
	flag_fails("", "--net: expected tap=NAME[,mac=MAC], got \"\"");
	flag_fails("t0", "--net: unknown option \"t0\" (expected tap=NAME or mac=MAC)");
	flag_fails("mac=52:54:00:00:00:02", "--net: missing tap=NAME");
	flag_fails("tap=t0,", "--net: expected tap=NAME[,mac=MAC], got \"tap=t0,\"");
	flag_fails("tap=t0,,mac=52:54:00:00:00:02",
		   "--net: expected tap=NAME[,mac=MAC], got \"tap=t0,,mac=52:54:00:00:00:02\"");
	flag_fails("tap=t0,tap=t1", "--net: tap= given twice");
	flag_fails("tap=t0,mac=52:54:00:00:00:02,mac=52:54:00:00:00:03", "--net: mac= given twice");
	flag_fails("tap=t0,mac=52:54:00:00:00", "--net: expected a unicast MAC address like "
		   "\"52:54:00:12:34:56\", got \"52:54:00:00:00\"");
	flag_fails("tap=", "--net: expected an interface name of 1..15 characters from "
		   "[A-Za-z0-9_.-], got \"\"");
	flag_fails("tap=t0,model=virtio",
		   "--net: unknown option \"model=virtio\" (expected tap=NAME or mac=MAC)");
	assert_int_equal(run("--kernel", kernel, "--net", NULL), -EINVAL);
	assert_string_equal(err, "--net: missing value");
}

#define T(fn) cmocka_unit_test_teardown(fn, test_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_mac_parse_good),
		T(test_mac_parse_bad),
		T(test_mac_default),
		T(test_nets_json),
		T(test_nets_json_errors),
		T(test_net_flag),
		T(test_net_flag_errors),
	};

	return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
