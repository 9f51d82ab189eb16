/*
 * Device keys of the VM spec: "disks" (virtio-blk) and "rng" (virtio-rng).
 * See docs/spec.md.
 */
#include "spec_dev.h"
#include "spec_json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DISK_LABEL_LEN 288

static const char disk_keys[] = "path, read_only, serial, cache, queues, coalesce_us";


static int dev_fail_nomem(char *err, size_t errlen, const char *label)
{
	spec_fail(err, errlen, label, "out of memory");
	return -ENOMEM;
}

/* A value as it appears after "got " (strings quoted, shortened). */


static char *dev_path_resolve(const char *base_dir, const char *path)
{
	char *out;
	size_t n;

	if (!base_dir || !*base_dir || path[0] == '/')
		return strdup(path);
	n = strlen(base_dir);
	if (asprintf(&out, "%s%s%s", base_dir, base_dir[n - 1] == '/' ? "" : "/", path) < 0)
		return NULL;
	return out;
}

/* ---- one disk --------------------------------------------------------- */

static bool serial_ok(const char *s)
{
	if (strlen(s) > SPEC_DISK_SERIAL_MAX)
		return false;
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

static int disk_serial_set(struct spec_disk *d, const char *s, const char *label, char *err,
			   size_t errlen)
{
	if (!serial_ok(s))
		return spec_fail(err, errlen, label,
				"expected at most 20 printable ASCII characters, got \"%.40s\"", s);
	snprintf(d->serial, sizeof(d->serial), "%s", s);
	return 0;
}

static int disk_cache_set(struct spec_disk *d, const char *s, const char *label, char *err,
			  size_t errlen)
{
	if (!strcmp(s, "none"))
		d->cache = DISK_CACHE_NONE;
	else if (!strcmp(s, "writeback"))
		d->cache = DISK_CACHE_WRITEBACK;
	else
		return spec_fail(err, errlen, label,
				"expected \"none\" or \"writeback\", got \"%.40s\"", s);
	return 0;
}

/* queues (1..8) and coalesce_us (0..10000): plain decimal integers. */
static int disk_uint_set(unsigned *out, long long v, bool ok, long long lo, long long hi,
			 const char *shown, const char *label, char *err, size_t errlen)
{
	if (!ok || v < lo || v > hi)
		return spec_fail(err, errlen, label, "expected an integer from %lld to %lld, got %.40s",
				lo, hi, shown);
	*out = (unsigned)v;
	return 0;
}

static int disk_uint_text(unsigned *out, const char *s, long long lo, long long hi,
			  const char *label, char *err, size_t errlen)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	return disk_uint_set(out, v, *s >= '0' && *s <= '9' && !*end && !errno, lo, hi, s,
			     label, err, errlen);
}

static int disk_path_set(struct spec_disk *d, const char *s, const char *base_dir,
			 const char *label, char *err, size_t errlen)
{
	if (!*s)
		return spec_fail(err, errlen, label, "expected a non-empty path, got \"\"");
	free(d->path);
	d->path = dev_path_resolve(base_dir, s);
	return d->path ? 0 : dev_fail_nomem(err, errlen, label);
}

static int disks_append(struct vm_spec *vm, const struct spec_disk *d, const char *label,
			char *err, size_t errlen)
{
	struct spec_disk *n;

	if (vm->ndisks >= SPEC_DISKS_MAX)
		return spec_fail(err, errlen, label, "at most %d disks", SPEC_DISKS_MAX);
	n = realloc(vm->disks, (vm->ndisks + 1) * sizeof(*n));
	if (!n)
		return dev_fail_nomem(err, errlen, label);
	vm->disks = n;
	vm->disks[vm->ndisks++] = *d;
	return 0;
}

/* The options of --disk after the path, each allowed once; ro and rw are one. */
enum disk_opt { DISK_OPT_RO, DISK_OPT_SERIAL, DISK_OPT_CACHE, DISK_OPT_QUEUES,
		DISK_OPT_COALESCE, DISK_OPT_COUNT };

static const char *const disk_opt_names[DISK_OPT_COUNT] = {
	"ro or rw", "serial=", "cache=", "queues=", "coalesce_us=",
};

static int disk_opt_find(const char *opt)
{
	if (!strcmp(opt, "ro") || !strcmp(opt, "rw"))
		return DISK_OPT_RO;
	for (int i = DISK_OPT_SERIAL; i < DISK_OPT_COUNT; i++)
		if (!strncmp(opt, disk_opt_names[i], strlen(disk_opt_names[i])))
			return i;
	return -1;
}

/* One comma-separated option of --disk; `seen` holds the ones given before. */
static int disk_option_set(struct spec_disk *d, const char *opt, unsigned *seen,
			   const char *label, char *err, size_t errlen)
{
	int o = disk_opt_find(opt);
	const char *v = strchr(opt, '=');

	if (o < 0)
		return spec_fail(err, errlen, label,
				"unknown option \"%.40s\" (expected ro, serial=S, cache=none|writeback, "
				"queues=N or coalesce_us=N)", opt);
	if (*seen & 1u << o)
		return spec_fail(err, errlen, label, "%s given twice", disk_opt_names[o]);
	*seen |= 1u << o;
	switch (o) {
	case DISK_OPT_RO:
		d->read_only = !strcmp(opt, "ro");
		return 0;
	case DISK_OPT_SERIAL:
		return disk_serial_set(d, v + 1, label, err, errlen);
	case DISK_OPT_CACHE:
		return disk_cache_set(d, v + 1, label, err, errlen);
	case DISK_OPT_QUEUES:
		return disk_uint_text(&d->queues, v + 1, 1, SPEC_DISK_QUEUES_MAX, label, err, errlen);
	default:
		return disk_uint_text(&d->coalesce_us, v + 1, 0, SPEC_DISK_COALESCE_MAX_US, label,
				      err, errlen);
	}
}

int spec_disk_add(struct vm_spec *vm, const char *path, bool read_only, const char *label,
		  char *err, size_t errlen)
{
	struct spec_disk d = { .read_only = read_only, .cache = DISK_CACHE_WRITEBACK,
				.coalesce_us = SPEC_DISK_COALESCE_DEFAULT_US };
	int ret = disk_path_set(&d, path, NULL, label, err, errlen);

	if (!ret)
		ret = disks_append(vm, &d, label, err, errlen);
	if (ret)
		free(d.path);
	return ret;
}

int spec_disk_add_text(struct vm_spec *vm, const char *text, const char *base_dir,
		       const char *label, char *err, size_t errlen)
{
	struct spec_disk d = { .cache = DISK_CACHE_WRITEBACK,
				.coalesce_us = SPEC_DISK_COALESCE_DEFAULT_US };
	char *copy = strdup(text), *save = NULL, *tok;
	unsigned seen = 0;
	int ret;

	if (!copy)
		return dev_fail_nomem(err, errlen, label);
	if (strstr(text, ",,") || (text[0] && text[strlen(text) - 1] == ',')) {
		free(copy);
		return spec_fail(err, errlen, label, "empty option in \"%.60s\" (expected "
				 "PATH[,ro][,serial=S][,cache=none|writeback][,queues=N][,coalesce_us=N])",
				 text);
	}
	tok = strtok_r(copy, ",", &save);
	ret = disk_path_set(&d, tok && text[0] != ',' ? tok : "", base_dir, label, err, errlen);
	while (!ret && (tok = strtok_r(NULL, ",", &save)))
		ret = disk_option_set(&d, tok, &seen, label, err, errlen);
	if (!ret)
		ret = disks_append(vm, &d, label, err, errlen);
	if (ret)
		free(d.path);
	free(copy);
	return ret;
}

/* ---- JSON --------------------------------------------------------------- */


static int disk_json_member(struct spec_disk *d, const cJSON *obj, const cJSON *v,
			    const char *base_dir, const char *prefix, char *err, size_t errlen)
{
	char label[DISK_LABEL_LEN];

	snprintf(label, sizeof(label), "%.200s.%.40s", prefix, v->string);
	if (spec_json_key_repeated(obj, v))
		return spec_fail(err, errlen, label, "duplicate key");
	if (!strcmp(v->string, "read_only")) {
		if (!cJSON_IsBool(v))
			return spec_json_fail_expected("true or false", v, label, err, errlen);
		d->read_only = cJSON_IsTrue(v);
		return 0;
	}
	if (!strcmp(v->string, "queues") || !strcmp(v->string, "coalesce_us")) {
		bool q = v->string[0] == 'q';
		bool num = cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble;
		char shown[48];

		if (!cJSON_IsNumber(v))
			return spec_json_fail_expected("an integer", v, label, err, errlen);
		snprintf(shown, sizeof(shown), "%g", v->valuedouble);
		return disk_uint_set(q ? &d->queues : &d->coalesce_us,
				     num ? (long long)v->valuedouble : -1, num, q ? 1 : 0,
				     q ? SPEC_DISK_QUEUES_MAX : SPEC_DISK_COALESCE_MAX_US, shown,
				     label, err, errlen);
	}
	if (strcmp(v->string, "path") && strcmp(v->string, "serial") && strcmp(v->string, "cache"))
		return spec_fail(err, errlen, label, "unknown key (expected one of: %s)", disk_keys);
	if (!cJSON_IsString(v))
		return spec_json_fail_expected(v->string[0] == 'c' ? "\"none\" or \"writeback\"" :
					 v->string[0] == 's' ? "a string" : "a non-empty path",
					 v, label, err, errlen);
	if (!strcmp(v->string, "path"))
		return disk_path_set(d, v->valuestring, base_dir, label, err, errlen);
	if (!strcmp(v->string, "serial"))
		return disk_serial_set(d, v->valuestring, label, err, errlen);
	return disk_cache_set(d, v->valuestring, label, err, errlen);
}

static int disk_json_parse(struct vm_spec *vm, const cJSON *obj, const char *base_dir,
			   const char *prefix, char *err, size_t errlen)
{
	struct spec_disk d = { .cache = DISK_CACHE_WRITEBACK,
				.coalesce_us = SPEC_DISK_COALESCE_DEFAULT_US };
	char label[DISK_LABEL_LEN];
	const cJSON *v;
	int ret = 0;

	if (!cJSON_IsObject(obj))
		return spec_json_fail_expected("a disk object", obj, prefix, err, errlen);
	cJSON_ArrayForEach(v, obj) {
		ret = disk_json_member(&d, obj, v, base_dir, prefix, err, errlen);
		if (ret)
			break;
	}
	if (!ret && !d.path) {
		snprintf(label, sizeof(label), "%.200s.path", prefix);
		ret = spec_fail(err, errlen, label, "missing required key");
	}
	if (!ret)
		ret = disks_append(vm, &d, prefix, err, errlen);
	if (ret)
		free(d.path);
	return ret;
}

int spec_disks_json_set(struct vm_spec *vm, const cJSON *v, const char *base_dir,
			const char *label, char *err, size_t errlen)
{
	char prefix[DISK_LABEL_LEN];
	const cJSON *item;
	size_t i = 0;
	int ret;

	if (!cJSON_IsArray(v))
		return spec_json_fail_expected("an array of disk objects", v, label, err, errlen);
	spec_disks_free(vm);
	cJSON_ArrayForEach(item, v) {
		snprintf(prefix, sizeof(prefix), "%.200s[%zu]", label, i++);
		ret = disk_json_parse(vm, item, base_dir, prefix, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- checks --------------------------------------------------------------- */

int spec_disk_check(const struct spec_disk *d, const char *label, char *err, size_t errlen)
{
	struct stat st;

	if (!d->path || !*d->path)
		return spec_fail(err, errlen, label, "missing path");
	if (stat(d->path, &st))
		return spec_fail(err, errlen, label, "%s: %s", d->path, strerror(errno));
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return spec_fail(err, errlen, label, "not a regular file or block device: %s",
				d->path);
	if (access(d->path, d->read_only ? R_OK : R_OK | W_OK))
		return spec_fail(err, errlen, label, "%s: %s%s", d->path, strerror(errno),
				d->read_only ? "" : " (read-write; add read_only for a read-only disk)");
	return 0;
}

int spec_disks_check(const struct vm_spec *vm, const char *label, char *err, size_t errlen)
{
	char l[DISK_LABEL_LEN];
	int ret;

	for (size_t i = 0; i < vm->ndisks; i++) {
		if (label && label[0] == '-')
			snprintf(l, sizeof(l), "%.200s", label);    /* a flag: --disk */
		else
			snprintf(l, sizeof(l), "%.200s[%zu].path", label ? label : "disks", i);
		ret = spec_disk_check(&vm->disks[i], l, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

void spec_disks_free(struct vm_spec *vm)
{
	for (size_t i = 0; i < vm->ndisks; i++)
		free(vm->disks[i].path);
	free(vm->disks);
	vm->disks = NULL;
	vm->ndisks = 0;
}

int spec_bool_set_text(bool *slot, const char *text, const char *label, char *err,
		       size_t errlen)
{
	if (!strcmp(text, "true") || !strcmp(text, "on"))
		*slot = true;
	else if (!strcmp(text, "false") || !strcmp(text, "off"))
		*slot = false;
	else
		return spec_fail(err, errlen, label, "expected true or false, got \"%.40s\"", text);
	return 0;
}
