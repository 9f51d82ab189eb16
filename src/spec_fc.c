/*
 * Firecracker's JSON config file (firecracker --config-file) read as a
 * one-VM kvmm spec.  Only what kvmm can honour is accepted; anything else
 * is an error naming the key, so a config never boots with a setting
 * silently dropped.  The mapping is documented in docs/spec.md.
 */
#include "spec.h"
#include "spec_dev.h"
#include "spec_json.h"
#include "spec_net.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FC_FILE_MAX (1u << 20)

struct fc_ctx {
	struct vm_spec *vm;
	char *err;
	size_t errlen;
};

static int __attribute__((format(printf, 3, 4)))
fc_fail(struct fc_ctx *c, const char *label, const char *fmt, ...)
{
	size_t n = (size_t)snprintf(c->err, c->errlen, "%s: ", label);
	va_list ap;

	if (n < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Keys listed as "none of these": present with a non-null value fails. */
static int fc_unsupported(struct fc_ctx *c, const char *label, const char *why)
{
	return fc_fail(c, label, "not supported by kvmm (%s)", why);
}

/* The Firecracker keys of the kvmm fields a config file sets. */
static const char *const fc_field_keys[VM_FIELD_COUNT] = {
	[VM_FIELD_KERNEL] = "boot-source.kernel_image_path",
	[VM_FIELD_INITRD] = "boot-source.initrd_path",
	[VM_FIELD_CMDLINE] = "boot-source.boot_args",
	[VM_FIELD_VCPUS] = "machine-config.vcpu_count",
	[VM_FIELD_MEMORY] = "machine-config.mem_size_mib",
};

const char *spec_fc_field_key(enum vm_field field)
{
	return (unsigned)field < VM_FIELD_COUNT ? fc_field_keys[field] : NULL;
}

/* Set one kvmm field from its JSON value with a spec file's rules: a
 * number where a path belongs, or a string where a number does, is an
 * error, never converted. */
static int fc_field(struct fc_ctx *c, enum vm_field field, const cJSON *v, const char *label)
{
	return spec_json_field_set(c->vm, field, v, NULL, label, c->err, c->errlen);
}

static int fc_boot_source(struct fc_ctx *c, const cJSON *obj)
{
	const cJSON *v;
	char label[96];
	int ret = 0;

	if (!cJSON_IsObject(obj))
		return fc_fail(c, "boot-source", "expected an object");
	if (!cJSON_GetObjectItemCaseSensitive(obj, "kernel_image_path"))
		return fc_fail(c, "boot-source.kernel_image_path", "required");
	cJSON_ArrayForEach(v, obj) {
		snprintf(label, sizeof(label), "boot-source.%.64s", v->string);
		if (spec_json_key_repeated(obj, v))
			return fc_fail(c, label, "duplicate key");
		if (cJSON_IsNull(v))
			continue;
		if (!strcmp(v->string, "kernel_image_path"))
			ret = fc_field(c, VM_FIELD_KERNEL, v, label);
		else if (!strcmp(v->string, "boot_args"))
			ret = fc_field(c, VM_FIELD_CMDLINE, v, label);
		else if (!strcmp(v->string, "initrd_path"))
			ret = fc_field(c, VM_FIELD_INITRD, v, label);
		else
			ret = fc_fail(c, label, "unknown key (expected one of: kernel_image_path, boot_args, initrd_path)");
		if (ret)
			return ret;
	}
	return 0;
}

/* machine-config keys that kvmm accepts only with Firecracker's default. */
static bool fc_machine_default(const cJSON *v)
{
	if (!strcmp(v->string, "smt") || !strcmp(v->string, "track_dirty_pages"))
		return cJSON_IsFalse(v);
	if (!strcmp(v->string, "huge_pages"))
		return cJSON_IsString(v) && !strcmp(v->valuestring, "None");
	return false;
}

static int fc_machine_config(struct fc_ctx *c, const cJSON *obj)
{
	const cJSON *v;
	char label[96];
	int ret = 0;

	if (!cJSON_IsObject(obj))
		return fc_fail(c, "machine-config", "expected an object");
	cJSON_ArrayForEach(v, obj) {
		snprintf(label, sizeof(label), "machine-config.%.64s", v->string);
		if (spec_json_key_repeated(obj, v))
			return fc_fail(c, label, "duplicate key");
		if (cJSON_IsNull(v) || fc_machine_default(v))
			continue;
		if (!strcmp(v->string, "vcpu_count"))
			ret = fc_field(c, VM_FIELD_VCPUS, v, label);
		else if (!strcmp(v->string, "mem_size_mib"))
			ret = fc_field(c, VM_FIELD_MEMORY, v, label);
		else if (!strcmp(v->string, "smt") || !strcmp(v->string, "track_dirty_pages") ||
			 !strcmp(v->string, "huge_pages") || !strcmp(v->string, "cpu_template"))
			ret = fc_unsupported(c, label, "only Firecracker's default is accepted");
		else
			ret = fc_fail(c, label, "unknown key (expected one of: vcpu_count, mem_size_mib, smt, track_dirty_pages, huge_pages)");
		if (ret)
			return ret;
	}
	return 0;
}

/* Drive keys accepted only with a value that changes nothing here. */
static bool fc_drive_default(const cJSON *v)
{
	if (cJSON_IsNull(v))
		return true;
	if (!strcmp(v->string, "cache_type"))
		return cJSON_IsString(v) && (!strcmp(v->valuestring, "Unsafe") ||
					     !strcmp(v->valuestring, "Writeback"));
	if (!strcmp(v->string, "io_engine"))
		return cJSON_IsString(v);
	return !strcmp(v->string, "drive_id") && cJSON_IsString(v);
}

/* One drive as a kvmm disk; the root device also sets root= on the command
 * line, as Firecracker does.  Its image is checked at once, under its own
 * key, since no flag can change it. */
static int fc_drive(struct fc_ctx *c, const cJSON *d, size_t i, bool want_root)
{
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(d, "path_on_host");
	const cJSON *root = cJSON_GetObjectItemCaseSensitive(d, "is_root_device");
	const cJSON *ro = cJSON_GetObjectItemCaseSensitive(d, "is_read_only");
	const cJSON *v;
	char label[96], *cmdline;
	int ret;

	snprintf(label, sizeof(label), "drives[%zu]", i);
	if (!cJSON_IsObject(d))
		return fc_fail(c, label, "expected an object");
	if (cJSON_IsTrue(root) != want_root)
		return 0;
	cJSON_ArrayForEach(v, d) {
		snprintf(label, sizeof(label), "drives[%zu].%.48s", i, v->string);
		if (spec_json_key_repeated(d, v))
			return fc_fail(c, label, "duplicate key");
		if (strcmp(v->string, "path_on_host") && strcmp(v->string, "is_root_device") &&
		    strcmp(v->string, "is_read_only") && !fc_drive_default(v))
			return fc_unsupported(c, label, "only drive_id, path_on_host, is_root_device, is_read_only, cache_type Unsafe/Writeback, io_engine");
	}
	snprintf(label, sizeof(label), "drives[%zu]", i);
	if (!cJSON_IsString(path) || !cJSON_IsBool(root) || (ro && !cJSON_IsBool(ro)))
		return fc_fail(c, label, "expected path_on_host (string), is_root_device and is_read_only (booleans)");
	snprintf(label, sizeof(label), "drives[%zu].path_on_host", i);
	ret = spec_disk_add(c->vm, path->valuestring, cJSON_IsTrue(ro), label, c->err, c->errlen);
	if (!ret)
		ret = spec_disk_check(&c->vm->disks[c->vm->ndisks - 1], label, c->err, c->errlen);
	if (ret || !want_root)
		return ret;
	if (asprintf(&cmdline, "%s root=/dev/vda %s", c->vm->cmdline ? c->vm->cmdline : "",
		     cJSON_IsTrue(ro) ? "ro" : "rw") < 0)
		return -ENOMEM;
	ret = vm_spec_field_set(c->vm, VM_FIELD_CMDLINE, cmdline, NULL, label, c->err, c->errlen);
	free(cmdline);
	return ret;
}

/* The root device becomes /dev/vda, the others follow in order. */
static int fc_drives(struct fc_ctx *c, const cJSON *v)
{
	const cJSON *d;
	size_t i, nroot = 0;
	int ret;

	if (cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsArray(v))
		return fc_fail(c, "drives", "expected an array");
	cJSON_ArrayForEach(d, v)
		nroot += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "is_root_device"));
	if (nroot > 1)
		return fc_fail(c, "drives", "more than one root device");
	for (int pass = 1; pass >= 0; pass--) {
		i = 0;
		cJSON_ArrayForEach(d, v) {
			ret = fc_drive(c, d, i++, pass);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* One network interface as a kvmm NIC. */
static int fc_nic(struct fc_ctx *c, const cJSON *n, size_t i)
{
	const cJSON *dev = cJSON_GetObjectItemCaseSensitive(n, "host_dev_name");
	const cJSON *mac = cJSON_GetObjectItemCaseSensitive(n, "guest_mac");
	const cJSON *v;
	char label[96], mac_label[96];

	snprintf(label, sizeof(label), "network-interfaces[%zu]", i);
	if (!cJSON_IsObject(n))
		return fc_fail(c, label, "expected an object");
	cJSON_ArrayForEach(v, n) {
		bool known = !strcmp(v->string, "host_dev_name") || !strcmp(v->string, "guest_mac") ||
			     (!strcmp(v->string, "iface_id") && cJSON_IsString(v)) ||
			     ((!strcmp(v->string, "rx_rate_limiter") ||
			       !strcmp(v->string, "tx_rate_limiter")) && cJSON_IsNull(v));

		snprintf(label, sizeof(label), "network-interfaces[%zu].%.48s", i, v->string);
		if (spec_json_key_repeated(n, v))
			return fc_fail(c, label, "duplicate key");
		if (!known)
			return fc_unsupported(c, label, "only iface_id, host_dev_name, guest_mac");
	}
	snprintf(label, sizeof(label), "network-interfaces[%zu]", i);
	if (!cJSON_IsString(dev) || (mac && !cJSON_IsString(mac)))
		return fc_fail(c, label, "expected host_dev_name (string) and guest_mac (string)");
	snprintf(label, sizeof(label), "network-interfaces[%zu].host_dev_name", i);
	snprintf(mac_label, sizeof(mac_label), "network-interfaces[%zu].guest_mac", i);
	return spec_net_add(c->vm, dev->valuestring, mac ? mac->valuestring : NULL, label,
			    mac_label, c->err, c->errlen);
}

static int fc_nics(struct fc_ctx *c, const cJSON *v)
{
	const cJSON *n;
	size_t i = 0;
	int ret;

	if (cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsArray(v))
		return fc_fail(c, "network-interfaces", "expected an array");
	cJSON_ArrayForEach(n, v) {
		ret = fc_nic(c, n, i++);
		if (ret)
			return ret;
	}
	return 0;
}

/* Firecracker's entropy device is kvmm's virtio-rng. */
static int fc_entropy(struct fc_ctx *c, const cJSON *v)
{
	const cJSON *o;

	if (cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsObject(v))
		return fc_fail(c, "entropy", "expected an object");
	cJSON_ArrayForEach(o, v) {
		char label[96];

		snprintf(label, sizeof(label), "entropy.%.48s", o->string);
		if (spec_json_key_repeated(v, o))
			return fc_fail(c, label, "duplicate key");
		if (strcmp(o->string, "rate_limiter") || !cJSON_IsNull(o))
			return fc_unsupported(c, label, "no rate limiter");
	}
	c->vm->rng = true;
	return 0;
}

static int fc_member(struct fc_ctx *c, const cJSON *v)
{
	static const char *const absent_only[] = {
		"balloon", "cpu-config", "vsock", "logger", "metrics", "mmds-config",
	};

	if (!strcmp(v->string, "boot-source"))
		return fc_boot_source(c, v);
	if (!strcmp(v->string, "machine-config"))
		return cJSON_IsNull(v) ? 0 : fc_machine_config(c, v);
	if (!strcmp(v->string, "drives"))
		return fc_drives(c, v);
	if (!strcmp(v->string, "network-interfaces"))
		return fc_nics(c, v);
	if (!strcmp(v->string, "entropy"))
		return fc_entropy(c, v);
	for (size_t i = 0; i < sizeof(absent_only) / sizeof(absent_only[0]); i++)
		if (!strcmp(v->string, absent_only[i]))
			return cJSON_IsNull(v) ? 0 : fc_unsupported(c, v->string, "no such device or setting");
	return fc_fail(c, v->string, "unknown key (expected one of: boot-source, machine-config, drives, network-interfaces, balloon, cpu-config, vsock, logger, metrics, mmds-config, entropy)");
}

/* The host checks, reported under the Firecracker key that set the field. */
static int fc_validate(struct fc_ctx *c)
{
	const char *label;
	int ret;

	for (int f = 0; f < VM_FIELD_COUNT; f++) {
		label = fc_field_keys[f] ? fc_field_keys[f] : vm_field_key((enum vm_field)f);
		ret = vm_spec_field_check(c->vm, (enum vm_field)f, label, c->err, c->errlen);
		if (ret)
			return ret;
	}
	return 0;
}

static int fc_parse(struct fc_ctx *c, const char *json, size_t len, bool validate)
{
	cJSON *root = spec_json_parse(json, len, "", c->err, c->errlen);
	const cJSON *v;
	int ret = 0;

	if (!root)
		return -EINVAL;
	if (!cJSON_IsObject(root))
		ret = fc_fail(c, "(root)", "expected an object");
	else if (!cJSON_GetObjectItemCaseSensitive(root, "boot-source"))
		ret = fc_fail(c, "boot-source", "required");
	/* boot-source first: the root drive appends to its boot_args. */
	if (!ret)
		ret = fc_member(c, cJSON_GetObjectItemCaseSensitive(root, "boot-source"));
	cJSON_ArrayForEach(v, root) {
		if (ret)
			break;
		if (spec_json_key_repeated(root, v))
			ret = fc_fail(c, v->string, "duplicate key");
		else if (strcmp(v->string, "boot-source"))
			ret = fc_member(c, v);
	}
	cJSON_Delete(root);
	if (!ret && validate)
		ret = fc_validate(c);
	return ret;
}

static char *fc_read_file(const char *path, size_t *len, int *ret)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	*ret = 0;
	if (!f) {
		*ret = -errno;
		return NULL;
	}
	buf = malloc(FC_FILE_MAX + 1);
	n = buf ? fread(buf, 1, FC_FILE_MAX + 1, f) : 0;
	fclose(f);
	if (!buf || n > FC_FILE_MAX) {
		free(buf);
		*ret = buf ? -EFBIG : -ENOMEM;
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

int spec_fc_load_file(const char *path, bool validate, struct kvmm_spec *out,
		      char *err, size_t errlen)
{
	struct fc_ctx c = { .err = err, .errlen = errlen };
	size_t len = 0;
	char *json;
	int ret;

	memset(out, 0, sizeof(*out));
	json = fc_read_file(path, &len, &ret);
	if (!json) {
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	out->vms = calloc(1, sizeof(*out->vms));
	if (!out->vms) {
		free(json);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	out->nvms = 1;
	vm_spec_init_defaults(&out->vms[0], 0);
	c.vm = &out->vms[0];
	ret = fc_parse(&c, json, len, validate);
	free(json);
	if (ret)
		spec_free(out);
	return ret;
}
