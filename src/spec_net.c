/*
 * The "nets" key of the VM spec: virtio-net NICs backed by TAP devices,
 * and the MAC address helpers the device uses.  See docs/spec.md.
 */
#include "spec_net.h"
#include "spec_json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NET_LABEL_LEN 288
#define MAC_TEXT_LEN 17           /* "52:54:00:12:34:56" */

static const char net_keys[] = "tap, mac";



/* ---- MAC addresses ------------------------------------------------------ */

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool spec_mac_parse(const char *text, uint8_t mac[6])
{
	uint8_t m[6];

	if (strlen(text) != MAC_TEXT_LEN)
		return false;
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(text[3 * i]), lo = hex_digit(text[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && text[3 * i + 2] != ':'))
			return false;
		m[i] = (uint8_t)(hi << 4 | lo);
	}
	if (m[0] & 1)
		return false;   /* multicast: a NIC needs a unicast address */
	if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]))
		return false;
	memcpy(mac, m, sizeof(m));
	return true;
}

/* 52:54 (locally administered, unicast) and 32 bits of an FNV-1a hash of
 * "NAME/INDEX": stable across runs, distinct between NICs and VMs. */
void spec_mac_default(const char *vm_name, size_t index, uint8_t mac[6])
{
	char key[SPEC_NAME_MAX + 24];
	uint32_t h = 2166136261u;

	snprintf(key, sizeof(key), "%s/%zu", vm_name, index);
	for (const char *p = key; *p; p++) {
		h ^= (uint8_t)*p;
		h *= 16777619u;
	}
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = (uint8_t)(h >> 24);
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

/* ---- one NIC -------------------------------------------------------------- */

/* What Linux accepts as an interface name, narrowed to tame characters. */
static bool tap_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SPEC_NET_TAP_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-'))
			return false;
	return true;
}

static int net_tap_set(struct spec_net *n, const char *s, const char *label, char *err,
		       size_t errlen)
{
	if (!tap_name_ok(s))
		return spec_fail(err, errlen, label,
				"expected an interface name of 1..%d characters from [A-Za-z0-9_.-], got \"%.40s\"",
				SPEC_NET_TAP_MAX, s);
	memcpy(n->tap, s, strlen(s) + 1);	/* fits: tap_name_ok() */
	return 0;
}

static int net_mac_set(struct spec_net *n, const char *s, const char *label, char *err,
		       size_t errlen)
{
	if (!spec_mac_parse(s, n->mac))
		return spec_fail(err, errlen, label,
				"expected a unicast MAC address like \"52:54:00:12:34:56\", got \"%.40s\"",
				s);
	n->has_mac = true;
	return 0;
}

/* Two NICs of one VM cannot share a TAP device or a MAC address. */
static int nets_append(struct vm_spec *vm, const struct spec_net *n, const char *tap_label,
		       const char *mac_label, char *err, size_t errlen)
{
	struct spec_net *a;

	if (vm->nnets >= SPEC_NETS_MAX)
		return spec_fail(err, errlen, tap_label, "at most %d NICs", SPEC_NETS_MAX);
	for (size_t i = 0; i < vm->nnets; i++) {
		if (!strcmp(vm->nets[i].tap, n->tap))
			return spec_fail(err, errlen, tap_label,
					"duplicate TAP device \"%s\" (also used by nets[%zu])",
					n->tap, i);
		if (n->has_mac && vm->nets[i].has_mac && !memcmp(vm->nets[i].mac, n->mac, 6))
			return spec_fail(err, errlen, mac_label,
					"duplicate MAC address (also used by nets[%zu])", i);
	}
	a = realloc(vm->nets, (vm->nnets + 1) * sizeof(*a));
	if (!a) {
		spec_fail(err, errlen, tap_label, "out of memory");
		return -ENOMEM;
	}
	vm->nets = a;
	vm->nets[vm->nnets++] = *n;
	return 0;
}

/* One comma-separated option of --net. */
static int net_option_set(struct spec_net *n, const char *opt, bool *seen_tap,
			  const char *label, char *err, size_t errlen)
{
	if (!strncmp(opt, "tap=", 4)) {
		if (*seen_tap)
			return spec_fail(err, errlen, label, "tap= given twice");
		*seen_tap = true;
		return net_tap_set(n, opt + 4, label, err, errlen);
	}
	if (!strncmp(opt, "mac=", 4)) {
		if (n->has_mac)
			return spec_fail(err, errlen, label, "mac= given twice");
		return net_mac_set(n, opt + 4, label, err, errlen);
	}
	return spec_fail(err, errlen, label,
			"unknown option \"%.40s\" (expected tap=NAME or mac=MAC)", opt);
}

int spec_net_add_text(struct vm_spec *vm, const char *text, const char *label, char *err,
		      size_t errlen)
{
	struct spec_net n = { 0 };
	const char *p = text;
	bool seen_tap = false;
	char opt[64];
	int ret = 0;

	while (!ret) {
		size_t len = strcspn(p, ",");

		if (len == 0 || len >= sizeof(opt))
			return spec_fail(err, errlen, label,
					"expected tap=NAME[,mac=MAC], got \"%.60s\"", text);
		memcpy(opt, p, len);
		opt[len] = '\0';
		ret = net_option_set(&n, opt, &seen_tap, label, err, errlen);
		if (!p[len])
			break;
		p += len + 1;
	}
	if (!ret && !seen_tap)
		ret = spec_fail(err, errlen, label, "missing tap=NAME");
	return ret ? ret : nets_append(vm, &n, label, label, err, errlen);
}

int spec_net_add(struct vm_spec *vm, const char *tap, const char *mac, const char *tap_label,
		 const char *mac_label, char *err, size_t errlen)
{
	struct spec_net n = { 0 };
	int ret = net_tap_set(&n, tap, tap_label, err, errlen);

	if (!ret && mac)
		ret = net_mac_set(&n, mac, mac_label, err, errlen);
	return ret ? ret : nets_append(vm, &n, tap_label, mac_label, err, errlen);
}

/* ---- JSON ------------------------------------------------------------------- */

static int net_json_member(struct spec_net *n, const cJSON *obj, const cJSON *v,
			   const char *prefix, char *err, size_t errlen)
{
	char label[NET_LABEL_LEN];
	bool tap = !strcmp(v->string, "tap");

	snprintf(label, sizeof(label), "%.200s.%.40s", prefix, v->string);
	if (spec_json_key_repeated(obj, v))
		return spec_fail(err, errlen, label, "duplicate key");
	if (!tap && strcmp(v->string, "mac"))
		return spec_fail(err, errlen, label, "unknown key (expected one of: %s)", net_keys);
	if (!cJSON_IsString(v))
		return spec_json_fail_expected(tap ? "an interface name" : "a MAC address string", v, label,
				    err, errlen);
	if (tap)
		return net_tap_set(n, v->valuestring, label, err, errlen);
	return net_mac_set(n, v->valuestring, label, err, errlen);
}

static int net_json_parse(struct vm_spec *vm, const cJSON *obj, const char *prefix, char *err,
			  size_t errlen)
{
	char tap_label[NET_LABEL_LEN], mac_label[NET_LABEL_LEN];
	struct spec_net n = { 0 };
	const cJSON *v;
	int ret;

	if (!cJSON_IsObject(obj))
		return spec_json_fail_expected("a NIC object", obj, prefix, err, errlen);
	cJSON_ArrayForEach(v, obj) {
		ret = net_json_member(&n, obj, v, prefix, err, errlen);
		if (ret)
			return ret;
	}
	snprintf(tap_label, sizeof(tap_label), "%.200s.tap", prefix);
	snprintf(mac_label, sizeof(mac_label), "%.200s.mac", prefix);
	if (!n.tap[0])
		return spec_fail(err, errlen, tap_label, "missing required key");
	return nets_append(vm, &n, tap_label, mac_label, err, errlen);
}

int spec_nets_json_set(struct vm_spec *vm, const cJSON *v, const char *label, char *err,
		       size_t errlen)
{
	char prefix[NET_LABEL_LEN];
	const cJSON *item;
	size_t i = 0;
	int ret;

	if (!cJSON_IsArray(v))
		return spec_json_fail_expected("an array of NIC objects", v, label, err, errlen);
	spec_nets_free(vm);
	cJSON_ArrayForEach(item, v) {
		snprintf(prefix, sizeof(prefix), "%.200s[%zu]", label, i++);
		ret = net_json_parse(vm, item, prefix, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

void spec_nets_free(struct vm_spec *vm)
{
	free(vm->nets);
	vm->nets = NULL;
	vm->nnets = 0;
}
