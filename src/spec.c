/*
 * VM specification parsing and validation.  See docs/spec.md.
 *
 * Parsing happens in two steps: each field is converted and stored
 * (vm_spec_field_set for text, spec_json_* for JSON values), then the whole
 * VM is checked (vm_spec_validate), so a spec file and command-line flags
 * share one set of rules and one wording of every error.
 */
#include "spec.h"
#include "spec_json.h"
#include "spec_dev.h"
#include "spec_net.h"
#include "spec_out.h"
#include "spec_sched.h"
#include "boot/loader.h"
#include "introspect/config.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPEC_LABEL_LEN 256        /* a JSON path or flag name in a message */
#define SPEC_GOT_LEN 96           /* the offending value, quoted */
#define SPEC_FILE_MAX (1u << 20)  /* larger spec files are surely a mistake */
#define SPEC_EXACT_INT_MAX 9007199254740992.0  /* 2^53: exact in a double */

/* Default cmdline; never freed, and only replaced, never written to. */
static char spec_default_cmdline[] = "console=ttyS0";

static uint64_t spec_host_mem_override;

static const char *const spec_field_keys[VM_FIELD_COUNT] = {
	[VM_FIELD_NAME] = "name",
	[VM_FIELD_KERNEL] = "kernel",
	[VM_FIELD_INITRD] = "initrd",
	[VM_FIELD_CMDLINE] = "cmdline",
	[VM_FIELD_VCPUS] = "vcpus",
	[VM_FIELD_MEMORY] = "memory_mib",
	[VM_FIELD_CONSOLE] = "console",
	[VM_FIELD_ON_REBOOT] = "on_reboot",
	[VM_FIELD_PARAMS] = "params",
	[VM_FIELD_DUMP_DTB] = "dump_dtb",
	[VM_FIELD_DISKS] = "disks",
	[VM_FIELD_RNG] = "rng",
	[VM_FIELD_SCHED] = "sched",
	[VM_FIELD_NETS] = "nets",
	[VM_FIELD_INTROSPECT] = "introspect",
};

/* ---- messages --------------------------------------------------------- */

int __attribute__((format(printf, 4, 5)))
spec_fail(char *err, size_t errlen, const char *label, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	if (!err || errlen == 0)
		return -EINVAL;
	n = (size_t)snprintf(err, errlen, "%s: ", label && *label ? label : "(root)");
	if (n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int spec_fail_nomem(char *err, size_t errlen, const char *label)
{
	spec_fail(err, errlen, label, "out of memory");
	return -ENOMEM;
}

/* How many characters `c` takes inside a quoted string; 1 = as is. */
static size_t spec_quote_width(unsigned char c)
{
	if (c == '"' || c == '\\' || c == '\n' || c == '\t' || c == '\r')
		return 2;
	return (c < 0x20 || c == 0x7f) ? 6 : 1;
}

/* `s` as a JSON string literal on one line, shortened if long. */
static void spec_quote(char *dst, size_t len, const char *s)
{
	size_t n = 0, w;

	if (len < 8) {
		if (len)
			dst[0] = '\0';
		return;
	}
	dst[n++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		w = spec_quote_width(c);
		if (n + w + sizeof("...\"") > len)
			break;  /* keep room for the ellipsis, quote and NUL */
		if (w == 6) {
			snprintf(dst + n, len - n, "\\u%04x", c);
		} else if (w == 2) {
			dst[n] = '\\';
			dst[n + 1] = c == '\n' ? 'n' : c == '\t' ? 't' :
				     c == '\r' ? 'r' : (char)c;
		} else {
			dst[n] = (char)c;
		}
		n += w;
	}
	if (*s) {
		memcpy(dst + n, "...", 3);
		n += 3;
	}
	dst[n++] = '"';
	dst[n] = '\0';
}

const char *spec_show(const char *s, char *buf, size_t len)
{
	const char *p;

	for (p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			break;
	if (!*p)
		return s;
	spec_quote(buf, len, s);
	return buf;
}

/* Keys are shown as written if short and tame, else quoted and shortened. */
static bool spec_key_is_plain(const char *key)
{
	size_t n = strlen(key);

	if (n == 0 || n > 32)
		return false;
	for (; *key; key++)
		if (!isalnum((unsigned char)*key) && *key != '_' && *key != '-')
			return false;
	return true;
}

void spec_path_join(char *dst, size_t len, const char *prefix, const char *key)
{
	char quoted[48];
	const char *k = key;

	if (!spec_key_is_plain(key)) {
		spec_quote(quoted, sizeof(quoted), key);
		k = quoted;
	}
	if (prefix && *prefix)
		snprintf(dst, len, "%s.%s", prefix, k);
	else
		snprintf(dst, len, "%s", k);
}

/* ---- host limits ------------------------------------------------------ */

void spec_set_host_mem_mib(uint64_t mib)
{
	spec_host_mem_override = mib;
}

/* MemTotal in MiB, or 0 when it cannot be read (then no upper limit). */
static uint64_t spec_host_mem_mib(void)
{
	unsigned long long kib = 0;
	char line[256];
	FILE *f;

	if (spec_host_mem_override)
		return spec_host_mem_override;
	f = fopen("/proc/meminfo", "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return kib / 1024;
}

/* ---- life cycle ------------------------------------------------------- */

static void spec_str_free(char *s)
{
	if (s != spec_default_cmdline)
		free(s);
}

/* Replace *slot by `s` (already allocated); NULL means out of memory. */
static int spec_str_replace(char **slot, char *s)
{
	if (!s)
		return -ENOMEM;
	spec_str_free(*slot);
	*slot = s;
	return 0;
}

void vm_spec_init_defaults(struct vm_spec *vm, size_t index)
{
	memset(vm, 0, sizeof(*vm));
	snprintf(vm->name, sizeof(vm->name), "vm%zu", index);
	vm->cmdline = spec_default_cmdline;
	vm->vcpus = 1;
	vm->memory_mib = 256;
	vm->console = CONSOLE_STDIO;
	vm->on_reboot = REBOOT_EXIT;
	spec_sched_defaults(&vm->sched);
}

void vm_spec_free(struct vm_spec *vm)
{
	size_t i;

	spec_str_free(vm->kernel);
	spec_str_free(vm->initrd);
	spec_str_free(vm->cmdline);
	spec_str_free(vm->console_path);
	spec_str_free(vm->dump_dtb);
	spec_str_free(vm->introspect);
	spec_disks_free(vm);
	spec_sched_free(&vm->sched);
	spec_nets_free(vm);
	for (i = 0; i < vm->nparams; i++) {
		free(vm->params[i].key);
		free(vm->params[i].value);
	}
	free(vm->params);
	memset(vm, 0, sizeof(*vm));
}

void spec_free(struct kvmm_spec *spec)
{
	size_t i;

	if (!spec)
		return;
	for (i = 0; i < spec->nvms; i++)
		vm_spec_free(&spec->vms[i]);
	free(spec->vms);
	spec->vms = NULL;
	spec->nvms = 0;
	free(spec->control_path);
	spec->control_path = NULL;
}

const char *vm_field_key(enum vm_field field)
{
	assert((unsigned)field < VM_FIELD_COUNT);
	return spec_field_keys[field];
}

/* ---- field rules -------------------------------------------------------- */

/* What a field accepts, as it appears after "expected " in messages. */
static const char *spec_expected(enum vm_field field, char *buf, size_t len)
{
	uint64_t host;

	switch (field) {
	case VM_FIELD_NAME:
		return "a name of 1..63 characters from [A-Za-z0-9_.-]";
	case VM_FIELD_KERNEL:
	case VM_FIELD_INITRD:
	case VM_FIELD_DUMP_DTB:
		return "a non-empty path";
	case VM_FIELD_CMDLINE:
		return "a string";
	case VM_FIELD_VCPUS:
		return "an integer 1..255";
	case VM_FIELD_MEMORY:
		host = spec_host_mem_mib();
		if (!host)
			return "an integer of at least 16";
		snprintf(buf, len, "an integer 16..%" PRIu64, host);
		return buf;
	case VM_FIELD_CONSOLE:
		return "\"stdio\", \"none\" or \"file:PATH\"";
	case VM_FIELD_ON_REBOOT:
		return "\"restart\" or \"exit\"";
	case VM_FIELD_PARAMS:
		return "an object of string or integer values";
	default:
		return "a valid value";
	}
}

static int spec_fail_expected(enum vm_field field, const char *got,
			      const char *label, char *err, size_t errlen)
{
	char buf[64];

	return spec_fail(err, errlen, label, "expected %s, got %s",
			 spec_expected(field, buf, sizeof(buf)), got);
}

static int spec_fail_expected_text(enum vm_field field, const char *text,
				   const char *label, char *err, size_t errlen)
{
	char got[SPEC_GOT_LEN];

	spec_quote(got, sizeof(got), text);
	return spec_fail_expected(field, got, label, err, errlen);
}

static bool spec_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n < 1 || n > SPEC_NAME_MAX)
		return false;
	for (; *name; name++)
		if (!isalnum((unsigned char)*name) && !strchr("_.-", *name))
			return false;
	return true;
}

/* The name is a directory (the VM's cgroup), so "." and ".." cannot be one. */
static int spec_name_check(const char *name, const char *label, char *err,
			   size_t errlen)
{
	if (!spec_name_ok(name))
		return spec_fail_expected_text(VM_FIELD_NAME, name, label, err,
					       errlen);
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return spec_fail(err, errlen, label,
				 "expected a name other than \".\" and \"..\", got \"%s\"",
				 name);
	return 0;
}

static bool spec_param_key_ok(const char *key)
{
	size_t n = strlen(key);

	if (n < 1 || n > SPEC_PARAM_KEY_MAX)
		return false;
	for (; *key; key++)
		if (!isalnum((unsigned char)*key) && !strchr(",._+-", *key))
			return false;
	return true;
}

static int spec_params_count_check(size_t n, const char *label, char *err,
				   size_t errlen)
{
	if (n <= SPEC_PARAMS_MAX)
		return 0;
	return spec_fail(err, errlen, label, "expected at most %d entries, got %zu",
			 SPEC_PARAMS_MAX, n);
}

static int spec_param_key_check(const char *key, const char *label, char *err,
				size_t errlen)
{
	char got[SPEC_GOT_LEN];

	if (spec_param_key_ok(key))
		return 0;
	spec_quote(got, sizeof(got), key);
	return spec_fail(err, errlen, label,
			 "expected a key of 1..31 characters from [A-Za-z0-9,._+-], got %s",
			 got);
}

/*
 * Ranges that hold on any host; the host memory limit is checked with the
 * files, in vm_spec_field_check().  `got` is the value as the user wrote it.
 */
static int spec_range_check(enum vm_field field, uint64_t v, const char *got,
			    const char *label, char *err, size_t errlen)
{
	if (field == VM_FIELD_VCPUS && (v < 1 || v > SPEC_VCPUS_MAX))
		return spec_fail_expected(field, got, label, err, errlen);
	/* the upper bound keeps the size in bytes in 64 bits */
	if (field == VM_FIELD_MEMORY &&
	    (v < SPEC_MEMORY_MIN_MIB || v > (UINT64_MAX >> 20)))
		return spec_fail_expected(field, got, label, err, errlen);
	return 0;
}

static int spec_host_mem_check(uint64_t mib, const char *label, char *err,
			       size_t errlen)
{
	uint64_t host = spec_host_mem_mib();

	if (host && mib > host)
		return spec_fail(err, errlen, label,
				 "%" PRIu64 " MiB exceeds host memory (%" PRIu64 " MiB)",
				 mib, host);
	return 0;
}

static void spec_int_store(struct vm_spec *vm, enum vm_field field, uint64_t v)
{
	if (field == VM_FIELD_VCPUS)
		vm->vcpus = (unsigned)v;
	else
		vm->memory_mib = v;
}

/* A readable regular file.  O_NONBLOCK keeps a FIFO from hanging us. */
static int spec_file_check(const char *path, const char *label, char *err,
			   size_t errlen)
{
	char buf[SPEC_LABEL_LEN];
	const char *shown = spec_show(path, buf, sizeof(buf));
	struct stat st;
	int fd, e;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		if (e == ENOENT || e == ENOTDIR)
			return spec_fail(err, errlen, label, "file not found: %s", shown);
		return spec_fail(err, errlen, label, "file not readable: %s (%s)",
				 shown, strerror(e));
	}
	e = fstat(fd, &st) ? errno : 0;
	close(fd);
	if (e)
		return spec_fail(err, errlen, label, "cannot stat %s (%s)", shown,
				 strerror(e));
	if (!S_ISREG(st.st_mode))
		return spec_fail(err, errlen, label, "not a regular file: %s", shown);
	return 0;
}

/* ---- setting fields from text ------------------------------------------ */

static char *spec_path_resolve(const char *base_dir, const char *path)
{
	char *out;
	size_t n;

	if (!base_dir || !*base_dir || path[0] == '/')
		return strdup(path);
	n = strlen(base_dir);
	if (asprintf(&out, "%s%s%s", base_dir, base_dir[n - 1] == '/' ? "" : "/",
		     path) < 0)
		return NULL;
	return out;
}

static int spec_path_set(char **slot, enum vm_field field, const char *text,
			 const char *base_dir, const char *label, char *err,
			 size_t errlen)
{
	if (!*text)
		return spec_fail_expected_text(field, text, label, err, errlen);
	if (spec_str_replace(slot, spec_path_resolve(base_dir, text)))
		return spec_fail_nomem(err, errlen, label);
	return 0;
}

/* Strict decimal: digits only, no sign, no spaces, no overflow. */
static bool spec_text_to_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

static int spec_int_set_text(struct vm_spec *vm, enum vm_field field,
			     const char *text, const char *label, char *err,
			     size_t errlen)
{
	char got[SPEC_GOT_LEN];
	uint64_t v;
	int ret;

	spec_quote(got, sizeof(got), text);
	if (!spec_text_to_u64(text, &v))
		return spec_fail_expected(field, got, label, err, errlen);
	ret = spec_range_check(field, v, got, label, err, errlen);
	if (ret)
		return ret;
	spec_int_store(vm, field, v);
	return 0;
}

static int spec_console_set(struct vm_spec *vm, const char *text,
			    const char *base_dir, const char *label, char *err,
			    size_t errlen)
{
	int ret;

	if (!strcmp(text, "stdio") || !strcmp(text, "none")) {
		spec_str_free(vm->console_path);
		vm->console_path = NULL;
		vm->console = text[0] == 's' ? CONSOLE_STDIO : CONSOLE_NONE;
		return 0;
	}
	if (strncmp(text, "file:", 5) || !text[5])
		return spec_fail_expected_text(VM_FIELD_CONSOLE, text, label, err,
					       errlen);
	ret = spec_path_set(&vm->console_path, VM_FIELD_CONSOLE, text + 5,
			    base_dir, label, err, errlen);
	if (ret)
		return ret;
	vm->console = CONSOLE_FILE;
	return 0;
}

static int spec_on_reboot_set(struct vm_spec *vm, const char *text,
			      const char *label, char *err, size_t errlen)
{
	if (!strcmp(text, "restart"))
		vm->on_reboot = REBOOT_RESTART;
	else if (!strcmp(text, "exit"))
		vm->on_reboot = REBOOT_EXIT;
	else
		return spec_fail_expected_text(VM_FIELD_ON_REBOOT, text, label,
					       err, errlen);
	return 0;
}

/* Add key=value, or replace the value of an existing key.  Copies both. */
static int spec_param_put(struct vm_spec *vm, const char *key, const char *value)
{
	struct spec_param *p;
	char *k, *v;
	size_t i;

	v = strdup(value);
	if (!v)
		return -ENOMEM;
	for (i = 0; i < vm->nparams; i++) {
		if (!strcmp(vm->params[i].key, key)) {
			free(vm->params[i].value);
			vm->params[i].value = v;
			return 0;
		}
	}
	p = realloc(vm->params, (vm->nparams + 1) * sizeof(*p));
	if (!p)
		goto out_free_value;
	vm->params = p;
	k = strdup(key);
	if (!k)
		goto out_free_value;
	vm->params[vm->nparams].key = k;
	vm->params[vm->nparams].value = v;
	vm->nparams++;
	return 0;

out_free_value:
	free(v);
	return -ENOMEM;
}

static int spec_param_set_text(struct vm_spec *vm, const char *text,
			       const char *label, char *err, size_t errlen)
{
	const char *eq = strchr(text, '=');
	char got[SPEC_GOT_LEN];
	char *key;
	int ret;

	if (!eq) {
		spec_quote(got, sizeof(got), text);
		return spec_fail(err, errlen, label, "expected KEY=VALUE, got %s",
				 got);
	}
	key = strndup(text, (size_t)(eq - text));
	if (!key)
		return spec_fail_nomem(err, errlen, label);
	ret = spec_param_key_check(key, label, err, errlen);
	if (!ret && spec_param_put(vm, key, eq + 1))
		ret = spec_fail_nomem(err, errlen, label);
	free(key);
	return ret;
}

static int spec_name_set(struct vm_spec *vm, const char *text,
			 const char *label, char *err, size_t errlen)
{
	int ret = spec_name_check(text, label, err, errlen);

	if (ret)
		return ret;
	snprintf(vm->name, sizeof(vm->name), "%s", text);
	return 0;
}

/* JSON text passed on as text (--introspect) is read as strictly as a spec. */
static int spec_json_text_check(const char *text, const char *label, char *err,
				size_t errlen)
{
	cJSON *root = spec_json_parse(text, strlen(text), label, err, errlen);

	cJSON_Delete(root);
	return root ? 0 : -EINVAL;
}

int vm_spec_field_set(struct vm_spec *vm, enum vm_field field, const char *text,
		      const char *base_dir, const char *label, char *err,
		      size_t errlen)
{
	switch (field) {
	case VM_FIELD_NAME:
		return spec_name_set(vm, text, label, err, errlen);
	case VM_FIELD_KERNEL:
		return spec_path_set(&vm->kernel, field, text, base_dir, label,
				     err, errlen);
	case VM_FIELD_INITRD:
		return spec_path_set(&vm->initrd, field, text, base_dir, label,
				     err, errlen);
	case VM_FIELD_DISKS:
		return spec_disk_add_text(vm, text, base_dir, label, err, errlen);
	case VM_FIELD_RNG:
		return spec_bool_set_text(&vm->rng, text, label, err, errlen);
	case VM_FIELD_SCHED:
		return spec_sched_text_set(vm, text, label, err, errlen);
	case VM_FIELD_INTROSPECT:
		/* JSON text of the object; checked by the introspection module */
		if (spec_json_text_check(text, label, err, errlen) ||
		    isp_config_check(text, label, err, errlen))
			return -EINVAL;
		if (spec_str_replace(&vm->introspect, strdup(text)))
			return spec_fail_nomem(err, errlen, label);
		return 0;
	case VM_FIELD_NETS:
		return spec_net_add_text(vm, text, label, err, errlen);
	case VM_FIELD_DUMP_DTB:
		return spec_path_set(&vm->dump_dtb, field, text, base_dir, label,
				     err, errlen);
	case VM_FIELD_CMDLINE:
		if (spec_str_replace(&vm->cmdline, strdup(text)))
			return spec_fail_nomem(err, errlen, label);
		return 0;
	case VM_FIELD_VCPUS:
	case VM_FIELD_MEMORY:
		return spec_int_set_text(vm, field, text, label, err, errlen);
	case VM_FIELD_CONSOLE:
		return spec_console_set(vm, text, base_dir, label, err, errlen);
	case VM_FIELD_ON_REBOOT:
		return spec_on_reboot_set(vm, text, label, err, errlen);
	case VM_FIELD_PARAMS:
		return spec_param_set_text(vm, text, label, err, errlen);
	default:
		return spec_fail(err, errlen, label, "unknown field");
	}
}

/* ---- checking a complete VM -------------------------------------------- */

/* The params become device-tree properties: SPEC_PARAMS_MAX of them, with
 * SPEC_PARAMS_TEXT_MAX bytes of keys and values, fit beside the rest. */
static int spec_params_check(const struct vm_spec *vm, const char *label,
			     char *err, size_t errlen)
{
	size_t i, text = 0;
	int ret;

	ret = spec_params_count_check(vm->nparams, label, err, errlen);
	for (i = 0; !ret && i < vm->nparams; i++) {
		ret = spec_param_key_check(vm->params[i].key, label, err, errlen);
		text += strlen(vm->params[i].key) + strlen(vm->params[i].value);
	}
	if (!ret && text > SPEC_PARAMS_TEXT_MAX)
		return spec_fail(err, errlen, label,
				 "expected at most %d bytes of keys and values, got %zu",
				 SPEC_PARAMS_TEXT_MAX, text);
	return ret;
}

/* The command line goes into the device tree, and a bzImage states the
 * longest one it takes. */
static int spec_cmdline_check(const struct vm_spec *vm, const char *label,
			      char *err, size_t errlen)
{
	size_t len, max;

	if (!vm->cmdline)
		return spec_fail_expected(VM_FIELD_CMDLINE, "null", label, err,
					  errlen);
	len = strlen(vm->cmdline);
	if (len > SPEC_CMDLINE_MAX)
		return spec_fail(err, errlen, label,
				 "expected at most %d bytes, got %zu",
				 SPEC_CMDLINE_MAX, len);
	if (vm->kernel && !boot_kernel_cmdline_max(vm->kernel, &max) &&
	    len > max)
		return spec_fail(err, errlen, label,
				 "expected at most %zu bytes (the kernel's limit), got %zu",
				 max, len);
	return 0;
}

static int spec_int_check(const struct vm_spec *vm, enum vm_field field,
			  const char *label, char *err, size_t errlen)
{
	uint64_t v = field == VM_FIELD_VCPUS ? vm->vcpus : vm->memory_mib;
	char got[32];
	int ret;

	snprintf(got, sizeof(got), "%" PRIu64, v);
	ret = spec_range_check(field, v, got, label, err, errlen);
	if (!ret && field == VM_FIELD_MEMORY)
		ret = spec_host_mem_check(v, label, err, errlen);
	return ret;
}

int vm_spec_field_check(const struct vm_spec *vm, enum vm_field field,
			const char *label, char *err, size_t errlen)
{
	switch (field) {
	case VM_FIELD_NAME:
		return spec_name_check(vm->name, label, err, errlen);
	case VM_FIELD_KERNEL:
		if (!vm->kernel)
			return spec_fail(err, errlen, label, "missing required key");
		return spec_file_check(vm->kernel, label, err, errlen);
	case VM_FIELD_INITRD:
		return vm->initrd ? spec_file_check(vm->initrd, label, err, errlen) : 0;
	case VM_FIELD_CMDLINE:
		return spec_cmdline_check(vm, label, err, errlen);
	case VM_FIELD_VCPUS:
	case VM_FIELD_MEMORY:
		return spec_int_check(vm, field, label, err, errlen);
	case VM_FIELD_CONSOLE:
		if (vm->console != CONSOLE_FILE)
			return 0;
		if (!vm->console_path || !*vm->console_path)
			return spec_fail_expected(field, "\"file:\"", label, err,
						  errlen);
		return spec_output_file_check(vm->console_path, label, err, errlen);
	case VM_FIELD_ON_REBOOT:
		if (vm->on_reboot != REBOOT_RESTART && vm->on_reboot != REBOOT_EXIT)
			return spec_fail_expected(field, "an unknown action", label,
						  err, errlen);
		return 0;
	case VM_FIELD_PARAMS:
		return spec_params_check(vm, label, err, errlen);
	case VM_FIELD_DISKS:
		return spec_disks_check(vm, label, err, errlen);
	case VM_FIELD_RNG:
		return 0;
	case VM_FIELD_SCHED:
		return spec_sched_check(vm, label, err, errlen);
	case VM_FIELD_INTROSPECT:
		return vm->introspect ? isp_config_check(vm->introspect, label, err, errlen) : 0;
	case VM_FIELD_NETS:
		return 0;	/* checked when parsed; the TAP when the VM starts */
	case VM_FIELD_DUMP_DTB:
		if (vm->dump_dtb && !*vm->dump_dtb)
			return spec_fail_expected_text(field, "", label, err, errlen);
		if (!vm->dump_dtb)
			return 0;
		return spec_output_file_check(vm->dump_dtb, label, err, errlen);
	default:
		return spec_fail(err, errlen, label, "unknown field");
	}
}

int vm_spec_validate(const struct vm_spec *vm, const char *path_prefix,
		     char *err, size_t errlen)
{
	char label[SPEC_LABEL_LEN];
	int f, ret;

	for (f = 0; f < VM_FIELD_COUNT; f++) {
		spec_path_join(label, sizeof(label), path_prefix, spec_field_keys[f]);
		ret = vm_spec_field_check(vm, (enum vm_field)f, label, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- JSON --------------------------------------------------------------- */

/* How a JSON value appears after "got " in messages. */
static void spec_json_describe(const cJSON *v, char *buf, size_t len)
{
	double d;

	if (cJSON_IsString(v)) {
		spec_quote(buf, len, v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		d = v->valuedouble;
		snprintf(buf, len, "%.15g", d);
		if (strtod(buf, NULL) != d)
			snprintf(buf, len, "%.17g", d);
	} else if (cJSON_IsBool(v)) {
		snprintf(buf, len, "%s", cJSON_IsTrue(v) ? "true" : "false");
	} else if (cJSON_IsNull(v)) {
		snprintf(buf, len, "null");
	} else if (cJSON_IsArray(v)) {
		snprintf(buf, len, "%s", v->child ? "an array" : "an empty array");
	} else if (cJSON_IsObject(v)) {
		snprintf(buf, len, "an object");
	} else {
		snprintf(buf, len, "an invalid value");
	}
}

int spec_json_fail_expected(const char *expected, const cJSON *v,
			    const char *label, char *err, size_t errlen)
{
	char got[SPEC_GOT_LEN];

	spec_json_describe(v, got, sizeof(got));
	return spec_fail(err, errlen, label, "expected %s, got %s", expected, got);
}

/* An integral JSON number with |value| <= 2^53, i.e. exact in a double. */
static bool spec_json_int(const cJSON *v, double *out)
{
	double d;

	if (!cJSON_IsNumber(v))
		return false;
	d = v->valuedouble;
	if (!isfinite(d) || d != floor(d) || fabs(d) > SPEC_EXACT_INT_MAX)
		return false;
	*out = d;
	return true;
}

/* Does an earlier member of `obj` have the same key as `item`? */
bool spec_json_key_repeated(const cJSON *obj, const cJSON *item)
{
	const cJSON *p;

	for (p = obj->child; p && p != item; p = p->next)
		if (!strcmp(p->string, item->string))
			return true;
	return false;
}

static int spec_json_int_set(struct vm_spec *vm, enum vm_field field,
			     const cJSON *v, const char *label, char *err,
			     size_t errlen)
{
	char got[SPEC_GOT_LEN], buf[64];
	double d;
	int ret;

	if (!spec_json_int(v, &d) || d < 0)
		return spec_json_fail_expected(spec_expected(field, buf, sizeof(buf)),
					       v, label, err, errlen);
	spec_json_describe(v, got, sizeof(got));
	ret = spec_range_check(field, (uint64_t)d, got, label, err, errlen);
	if (ret)
		return ret;
	spec_int_store(vm, field, (uint64_t)d);
	return 0;
}

static int spec_json_param_set(struct vm_spec *vm, const cJSON *obj,
			       const cJSON *v, const char *params_label,
			       char *err, size_t errlen)
{
	char label[SPEC_LABEL_LEN], num[32];
	const char *value = num;
	double d;
	int ret;

	spec_path_join(label, sizeof(label), params_label, v->string);
	if (spec_json_key_repeated(obj, v))
		return spec_fail(err, errlen, label, "duplicate key");
	ret = spec_param_key_check(v->string, params_label, err, errlen);
	if (ret)
		return ret;
	if (cJSON_IsString(v))
		value = v->valuestring;
	else if (spec_json_int(v, &d))
		snprintf(num, sizeof(num), "%lld", (long long)d);
	else
		return spec_json_fail_expected("a string or an integer", v, label,
					       err, errlen);
	if (spec_param_put(vm, v->string, value))
		return spec_fail_nomem(err, errlen, label);
	return 0;
}

static int spec_json_params_set(struct vm_spec *vm, const cJSON *obj,
				const char *label, char *err, size_t errlen)
{
	const cJSON *v;
	char buf[64];
	int ret;

	if (!cJSON_IsObject(obj))
		return spec_json_fail_expected(spec_expected(VM_FIELD_PARAMS, buf,
							     sizeof(buf)),
					       obj, label, err, errlen);
	/* at once: the checks below take time quadratic in the count */
	ret = spec_params_count_check((size_t)cJSON_GetArraySize(obj), label,
				      err, errlen);
	if (ret)
		return ret;
	cJSON_ArrayForEach(v, obj) {
		ret = spec_json_param_set(vm, obj, v, label, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

static int spec_json_introspect_set(struct vm_spec *vm, const cJSON *v,
				    const char *label, char *err, size_t errlen)
{
	char *text;
	int ret;

	if (!cJSON_IsObject(v))
		return spec_json_fail_expected("an object", v, label, err, errlen);
	text = cJSON_PrintUnformatted(v);
	if (!text)
		return spec_fail_nomem(err, errlen, label);
	ret = vm_spec_field_set(vm, VM_FIELD_INTROSPECT, text, NULL, label, err,
				errlen);
	free(text);
	return ret;
}

int spec_json_field_set(struct vm_spec *vm, enum vm_field field,
			const cJSON *v, const char *base_dir, const char *label,
			char *err, size_t errlen)
{
	char buf[64];

	if (field == VM_FIELD_VCPUS || field == VM_FIELD_MEMORY)
		return spec_json_int_set(vm, field, v, label, err, errlen);
	if (field == VM_FIELD_PARAMS)
		return spec_json_params_set(vm, v, label, err, errlen);
	if (field == VM_FIELD_DISKS)
		return spec_disks_json_set(vm, v, base_dir, label, err, errlen);
	if (field == VM_FIELD_SCHED)
		return spec_sched_json_set(vm, v, label, err, errlen);
	if (field == VM_FIELD_NETS)
		return spec_nets_json_set(vm, v, label, err, errlen);
	if (field == VM_FIELD_INTROSPECT)
		return spec_json_introspect_set(vm, v, label, err, errlen);
	if (field == VM_FIELD_RNG && !cJSON_IsBool(v))
		return spec_json_fail_expected("true or false", v, label, err, errlen);
	if (field == VM_FIELD_RNG) {
		vm->rng = cJSON_IsTrue(v);
		return 0;
	}
	if (!cJSON_IsString(v))
		return spec_json_fail_expected(spec_expected(field, buf, sizeof(buf)),
					       v, label, err, errlen);
	return vm_spec_field_set(vm, field, v->valuestring, base_dir, label, err,
				 errlen);
}

static int spec_field_lookup(const char *key)
{
	int f;

	for (f = 0; f < VM_FIELD_COUNT; f++)
		if (!strcmp(key, spec_field_keys[f]))
			return f;
	return -1;
}

static int spec_fail_unknown_key(const char *label, char *err, size_t errlen)
{
	char keys[160] = "";
	size_t n = 0;
	int f;

	for (f = 0; f < VM_FIELD_COUNT; f++)
		n += (size_t)snprintf(keys + n, sizeof(keys) - n, "%s%s",
				      f ? ", " : "", spec_field_keys[f]);
	return spec_fail(err, errlen, label,
			 "unknown key (expected one of: %s)", keys);
}

static int spec_json_vm_member(struct vm_spec *vm, const cJSON *obj,
			       const cJSON *v, const char *prefix,
			       const char *base_dir, char *err, size_t errlen)
{
	char label[SPEC_LABEL_LEN];
	int f;

	spec_path_join(label, sizeof(label), prefix, v->string);
	if (spec_json_key_repeated(obj, v))
		return spec_fail(err, errlen, label, "duplicate key");
	if (!*prefix && !strcmp(v->string, "control"))
		return 0;	/* process-wide, see spec_json_control_parse() */
	f = spec_field_lookup(v->string);
	if (f < 0)
		return spec_fail_unknown_key(label, err, errlen);
	return spec_json_field_set(vm, (enum vm_field)f, v, base_dir, label, err,
				   errlen);
}

static int spec_json_vm_parse(struct vm_spec *vm, size_t index,
			      const cJSON *obj, const char *prefix,
			      const char *base_dir, char *err, size_t errlen)
{
	const cJSON *v;
	int ret;

	vm_spec_init_defaults(vm, index);
	if (!cJSON_IsObject(obj))
		return spec_json_fail_expected("a VM object", obj, prefix, err,
					       errlen);
	cJSON_ArrayForEach(v, obj) {
		ret = spec_json_vm_member(vm, obj, v, prefix, base_dir, err,
					  errlen);
		if (ret)
			return ret;
	}
	return 0;
}

static int spec_names_check(const struct kvmm_spec *spec, char *err,
			    size_t errlen)
{
	char label[SPEC_LABEL_LEN];
	size_t i, j;

	for (i = 1; i < spec->nvms; i++) {
		for (j = 0; j < i; j++) {
			if (strcmp(spec->vms[i].name, spec->vms[j].name))
				continue;
			snprintf(label, sizeof(label), "vms[%zu].name", i);
			return spec_fail(err, errlen, label,
					 "duplicate name \"%s\" (also used by vms[%zu])",
					 spec->vms[i].name, j);
		}
	}
	return 0;
}

static int spec_json_vms_parse(struct kvmm_spec *out, const cJSON *root,
			       const char *base_dir, char *err, size_t errlen)
{
	const cJSON *vms = cJSON_GetObjectItemCaseSensitive(root, "vms");
	char prefix[SPEC_LABEL_LEN];
	const cJSON *v;
	size_t n;
	int ret;

	cJSON_ArrayForEach(v, root) {
		spec_path_join(prefix, sizeof(prefix), "", v->string);
		if (strcmp(v->string, "vms") && strcmp(v->string, "control"))
			return spec_fail(err, errlen, prefix,
					 "unknown key (expected one of: vms, control)");
		if (spec_json_key_repeated(root, v))
			return spec_fail(err, errlen, prefix, "duplicate key");
	}
	n = (size_t)cJSON_GetArraySize(vms);
	if (!cJSON_IsArray(vms) || n == 0)
		return spec_json_fail_expected("a non-empty array of VM objects",
					       vms, "vms", err, errlen);
	out->vms = calloc(n, sizeof(*out->vms));
	if (!out->vms)
		return spec_fail_nomem(err, errlen, "vms");
	cJSON_ArrayForEach(v, vms) {
		snprintf(prefix, sizeof(prefix), "vms[%zu]", out->nvms);
		ret = spec_json_vm_parse(&out->vms[out->nvms], out->nvms, v, prefix,
					 base_dir, err, errlen);
		out->nvms++;
		if (ret)
			return ret;
	}
	return spec_names_check(out, err, errlen);
}

/* Check every VM against the host, under its path in the document. */
static int spec_validate_all(const struct kvmm_spec *spec, bool vms_form,
			     char *err, size_t errlen)
{
	char prefix[32];
	size_t i;
	int ret;

	for (i = 0; i < spec->nvms; i++) {
		snprintf(prefix, sizeof(prefix), "vms[%zu]", i);
		ret = vm_spec_validate(&spec->vms[i], vms_form ? prefix : "", err,
				       errlen);
		if (ret)
			return ret;
	}
	return 0;
}

/* "control": {"path": "..."}, in either form of the document. */
static int spec_json_control_parse(struct kvmm_spec *out, const cJSON *root,
				   const char *base_dir, char *err,
				   size_t errlen)
{
	const cJSON *ctl = cJSON_GetObjectItemCaseSensitive(root, "control");
	const cJSON *v, *path;

	if (!ctl)
		return 0;
	if (!cJSON_IsObject(ctl))
		return spec_json_fail_expected("an object", ctl, "control", err,
					       errlen);
	cJSON_ArrayForEach(v, ctl) {
		if (strcmp(v->string, "path") || spec_json_key_repeated(ctl, v))
			return spec_fail(err, errlen, "control",
					 "unknown or repeated key \"%s\" (expected: path)",
					 v->string);
	}
	path = cJSON_GetObjectItemCaseSensitive(ctl, "path");
	if (!path)
		return spec_fail(err, errlen, "control.path", "required");
	if (!cJSON_IsString(path) || !*path->valuestring)
		return spec_json_fail_expected("a socket path", path,
					       "control.path", err, errlen);
	out->control_path = spec_path_resolve(base_dir, path->valuestring);
	if (!out->control_path)
		return spec_fail_nomem(err, errlen, "control.path");
	return spec_control_path_check(out->control_path, "control.path", err, errlen);
}

static int spec_json_root_parse(struct kvmm_spec *out, const cJSON *root,
				const char *base_dir, bool validate, char *err,
				size_t errlen)
{
	bool vms_form = cJSON_HasObjectItem(root, "vms");
	int ret;

	if (!cJSON_IsObject(root))
		return spec_json_fail_expected("an object", root, "(root)", err,
					       errlen);
	if (vms_form) {
		ret = spec_json_vms_parse(out, root, base_dir, err, errlen);
	} else {
		out->vms = calloc(1, sizeof(*out->vms));
		if (!out->vms)
			return spec_fail_nomem(err, errlen, "(root)");
		out->nvms = 1;
		ret = spec_json_vm_parse(&out->vms[0], 0, root, "", base_dir, err,
					 errlen);
	}
	if (!ret)
		ret = spec_json_control_parse(out, root, base_dir, err, errlen);
	if (ret || !validate)
		return ret;
	return spec_validate_all(out, vms_form, err, errlen);
}

static int spec_load(const char *json, size_t len, const char *base_dir,
		     bool validate, struct kvmm_spec *out, char *err,
		     size_t errlen)
{
	cJSON *root;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!json)
		return spec_fail(err, errlen, "(root)", "no input");
	root = spec_json_parse(json, len, "", err, errlen);
	if (!root)
		return -EINVAL;
	ret = spec_json_root_parse(out, root, base_dir, validate, err, errlen);
	cJSON_Delete(root);
	if (ret)
		spec_free(out);
	return ret;
}

int spec_load_string(const char *json, const char *base_dir,
		     struct kvmm_spec *out, char *err, size_t errlen)
{
	return spec_load(json, json ? strlen(json) : 0, base_dir, true, out, err,
			 errlen);
}

/* Read all of a regular file of st_size bytes into a NUL-terminated buffer
 * of *lenp bytes (a NUL byte in the file makes it longer than its string). */
static int spec_fd_read(int fd, const struct stat *st, char **out, size_t *lenp)
{
	size_t len = 0, size;
	ssize_t n;
	char *buf;

	if (!S_ISREG(st->st_mode))
		return -EINVAL;
	if (st->st_size > (off_t)SPEC_FILE_MAX)
		return -EFBIG;
	size = (size_t)st->st_size;
	buf = malloc(size + 1);
	if (!buf)
		return -ENOMEM;
	while (len < size) {
		n = read(fd, buf + len, size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	*lenp = len;
	return 0;
}

/* The whole file as a string; errors name the file. */
static int spec_file_read(const char *path, char **out, size_t *lenp,
			  char *err, size_t errlen)
{
	char buf[SPEC_LABEL_LEN];
	struct stat st;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out_report;
	}
	ret = fstat(fd, &st) ? -errno : spec_fd_read(fd, &st, out, lenp);
	close(fd);
	if (!ret)
		return 0;
out_report:
	path = spec_show(path, buf, sizeof(buf));
	if (ret == -EINVAL)
		spec_fail(err, errlen, path, "cannot read spec file: not a regular file");
	else if (ret == -EFBIG)
		spec_fail(err, errlen, path, "cannot read spec file: larger than 1 MiB");
	else
		spec_fail(err, errlen, path, "cannot read spec file: %s",
			  strerror(-ret));
	return ret;
}

static int spec_file_load(const char *path, bool validate,
			  struct kvmm_spec *out, char *err, size_t errlen)
{
	char *json = NULL, *abs;
	size_t len = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = spec_file_read(path, &json, &len, err, errlen);
	if (ret)
		return ret;
	abs = realpath(path, NULL);
	if (!abs) {
		ret = -errno;
		spec_fail(err, errlen, "(root)", "cannot resolve the spec file's directory: %s",
			  strerror(-ret));
		goto out_free_json;
	}
	ret = spec_load(json, len, dirname(abs), validate, out, err, errlen);
	free(abs);
out_free_json:
	free(json);
	return ret;
}

int spec_load_file(const char *path, struct kvmm_spec *out, char *err,
		   size_t errlen)
{
	return spec_file_load(path, true, out, err, errlen);
}

int spec_parse_file(const char *path, struct kvmm_spec *out, char *err,
		    size_t errlen)
{
	return spec_file_load(path, false, out, err, errlen);
}
