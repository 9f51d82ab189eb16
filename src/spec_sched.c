/*
 * The "sched" key of the VM spec: pinning, cgroup weights, the adaptive
 * weight controller and relaxed co-scheduling.  See docs/spec.md and
 * docs/scheduling.md.
 */
#include "spec_sched.h"
#include "spec_json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCHED_LABEL_LEN 320

static const char sched_keys[] = "cgroup_root, cgroup_parent, weight, io_weight, "
	"vcpu_weights, vcpu_affinity, io_affinity, adaptive, coschedule";




static int uint_get(const cJSON *v, unsigned lo, unsigned hi, unsigned *out,
		    const char *label, char *err, size_t errlen)
{
	char what[64];

	snprintf(what, sizeof(what), "an integer %u..%u", lo, hi);
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
	    v->valuedouble < lo || v->valuedouble > hi)
		return spec_json_fail_expected(what, v, label, err, errlen);
	*out = (unsigned)v->valuedouble;
	return 0;
}

static int bool_get(const cJSON *v, bool *out, const char *label, char *err, size_t errlen)
{
	if (!cJSON_IsBool(v))
		return spec_json_fail_expected("true or false", v, label, err, errlen);
	*out = cJSON_IsTrue(v);
	return 0;
}

static int str_get(const cJSON *v, char **out, const char *label, char *err, size_t errlen)
{
	if (!cJSON_IsString(v))
		return spec_json_fail_expected("a string", v, label, err, errlen);
	free(*out);
	*out = strdup(v->valuestring);
	return *out ? 0 : spec_fail(err, errlen, label, "out of memory");
}

/* A group below the hierarchy's top, "a" or "a/b": no component may be
 * empty, "." or "..", so kvmm's groups stay inside it. */
static bool parent_ok(const char *s)
{
	size_t n;

	for (;;) {
		n = strcspn(s, "/");
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && !strncmp(s, "..", 2)))
			return false;
		if (!s[n])
			return true;
		s += n + 1;
	}
}

static int parent_get(const cJSON *v, char **out, const char *label, char *err, size_t errlen)
{
	int ret = str_get(v, out, label, err, errlen);

	if (ret || parent_ok(*out))
		return ret;
	return spec_json_fail_expected("a group path below the hierarchy's top (names joined by "
				       "\"/\", none empty, \".\" or \"..\")", v, label, err, errlen);
}

/* [0, 2, 3]: a non-empty set of host CPU numbers. */
static int cpus_get(const cJSON *v, uint64_t *mask, const char *label, char *err,
		    size_t errlen)
{
	char l[SCHED_LABEL_LEN];
	const cJSON *c;
	size_t i = 0;
	unsigned cpu;
	int ret;

	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0)
		return spec_json_fail_expected("a non-empty array of host CPU numbers", v, label, err,
				      errlen);
	memset(mask, 0, SPEC_CPU_WORDS * sizeof(*mask));
	cJSON_ArrayForEach(c, v) {
		snprintf(l, sizeof(l), "%.250s[%zu]", label, i++);
		ret = uint_get(c, 0, SPEC_CPUS_MAX - 1, &cpu, l, err, errlen);
		if (ret)
			return ret;
		mask[cpu / 64] |= 1ull << (cpu % 64);
	}
	return 0;
}

static int weights_get(struct spec_sched *s, const cJSON *v, const char *label, char *err,
		       size_t errlen)
{
	char l[SCHED_LABEL_LEN];
	const cJSON *c;
	size_t n = 0;
	int ret;

	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0 ||
	    cJSON_GetArraySize(v) > SPEC_VCPUS_MAX)
		return spec_json_fail_expected("an array of weights, one per vCPU", v, label, err, errlen);
	free(s->vcpu_weights);
	s->nvcpu_weights = 0;
	s->vcpu_weights = calloc((size_t)cJSON_GetArraySize(v), sizeof(*s->vcpu_weights));
	if (!s->vcpu_weights)
		return spec_fail(err, errlen, label, "out of memory");
	cJSON_ArrayForEach(c, v) {
		snprintf(l, sizeof(l), "%.250s[%zu]", label, n);
		ret = uint_get(c, 1, 10000, &s->vcpu_weights[n], l, err, errlen);
		if (ret)
			return ret;
		s->nvcpu_weights = ++n;
	}
	return 0;
}

static int affinity_get(struct spec_sched *s, const cJSON *v, const char *label, char *err,
			size_t errlen)
{
	char l[SCHED_LABEL_LEN];
	const cJSON *c;
	size_t n = 0;
	int ret;

	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0 ||
	    cJSON_GetArraySize(v) > SPEC_VCPUS_MAX)
		return spec_json_fail_expected("an array of CPU lists, one per vCPU", v, label, err,
				      errlen);
	free(s->vcpu_affinity);
	s->nvcpu_affinity = 0;
	s->vcpu_affinity = calloc((size_t)cJSON_GetArraySize(v), sizeof(*s->vcpu_affinity));
	if (!s->vcpu_affinity)
		return spec_fail(err, errlen, label, "out of memory");
	cJSON_ArrayForEach(c, v) {
		snprintf(l, sizeof(l), "%.250s[%zu]", label, n);
		ret = cpus_get(c, s->vcpu_affinity[n], l, err, errlen);
		if (ret)
			return ret;
		s->nvcpu_affinity = ++n;
	}
	return 0;
}

static int adaptive_member(struct spec_sched *s, const cJSON *v, const char *l, char *err,
			   size_t errlen)
{
	if (!strcmp(v->string, "enabled"))
		return bool_get(v, &s->adaptive, l, err, errlen);
	if (!strcmp(v->string, "period_ms"))
		return uint_get(v, 10, 10000, &s->period_ms, l, err, errlen);
	if (!strcmp(v->string, "min_weight"))
		return uint_get(v, 1, 10000, &s->min_weight, l, err, errlen);
	if (!strcmp(v->string, "max_weight"))
		return uint_get(v, 1, 10000, &s->max_weight, l, err, errlen);
	return spec_fail(err, errlen, l, "unknown key (expected one of: enabled, period_ms, "
			  "min_weight, max_weight)");
}

static int coschedule_member(struct spec_sched *s, const cJSON *v, const char *l, char *err,
			     size_t errlen)
{
	if (!strcmp(v->string, "enabled"))
		return bool_get(v, &s->coschedule, l, err, errlen);
	if (!strcmp(v->string, "max_skew_ms"))
		return uint_get(v, 1, 1000, &s->max_skew_ms, l, err, errlen);
	if (!strcmp(v->string, "boost_weight"))
		return uint_get(v, 0, 10000, &s->boost_weight, l, err, errlen);
	return spec_fail(err, errlen, l, "unknown key (expected one of: enabled, max_skew_ms, "
			  "boost_weight)");
}

typedef int (*member_fn)(struct spec_sched *s, const cJSON *v, const char *l, char *err,
			 size_t errlen);

static int object_walk(struct spec_sched *s, const cJSON *obj, member_fn fn, const char *label,
		       char *err, size_t errlen)
{
	char l[SCHED_LABEL_LEN];
	const cJSON *v;
	int ret;

	if (!cJSON_IsObject(obj))
		return spec_json_fail_expected("an object", obj, label, err, errlen);
	cJSON_ArrayForEach(v, obj) {
		snprintf(l, sizeof(l), "%.250s.%.40s", label, v->string);
		if (spec_json_key_repeated(obj, v))
			return spec_fail(err, errlen, l, "duplicate key");
		ret = fn(s, v, l, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

static int sched_member(struct spec_sched *s, const cJSON *v, const char *l, char *err,
			size_t errlen)
{
	const char *k = v->string;

	if (!strcmp(k, "cgroup_root"))
		return str_get(v, &s->cgroup_root, l, err, errlen);
	if (!strcmp(k, "cgroup_parent"))
		return parent_get(v, &s->cgroup_parent, l, err, errlen);
	if (!strcmp(k, "weight"))
		return uint_get(v, 1, 10000, &s->weight, l, err, errlen);
	if (!strcmp(k, "io_weight"))
		return uint_get(v, 1, 10000, &s->io_weight, l, err, errlen);
	if (!strcmp(k, "vcpu_weights"))
		return weights_get(s, v, l, err, errlen);
	if (!strcmp(k, "vcpu_affinity"))
		return affinity_get(s, v, l, err, errlen);
	if (!strcmp(k, "io_affinity"))
		return cpus_get(v, s->io_affinity, l, err, errlen);
	if (!strcmp(k, "adaptive"))
		return object_walk(s, v, adaptive_member, l, err, errlen);
	if (!strcmp(k, "coschedule"))
		return object_walk(s, v, coschedule_member, l, err, errlen);
	return spec_fail(err, errlen, l, "unknown key (expected one of: %s)", sched_keys);
}

void spec_sched_defaults(struct spec_sched *s)
{
	memset(s, 0, sizeof(*s));
	s->period_ms = 100;
	s->max_skew_ms = 10;
	s->boost_weight = 1000;
}

void spec_sched_free(struct spec_sched *s)
{
	free(s->cgroup_root);
	free(s->cgroup_parent);
	free(s->vcpu_weights);
	free(s->vcpu_affinity);
	spec_sched_defaults(s);
}

int spec_sched_json_set(struct vm_spec *vm, const cJSON *v, const char *label, char *err,
			size_t errlen)
{
	spec_sched_free(&vm->sched);
	return object_walk(&vm->sched, v, sched_member, label, err, errlen);
}

int spec_sched_text_set(struct vm_spec *vm, const char *text, const char *label, char *err,
			size_t errlen)
{
	cJSON *root = spec_json_parse(text, strlen(text), label, err, errlen);
	int ret;

	if (!root)
		return -EINVAL;
	ret = spec_sched_json_set(vm, root, label, err, errlen);
	cJSON_Delete(root);
	return ret;
}

static int cpus_check(const uint64_t *mask, long ncpus, const char *label, char *err,
		      size_t errlen)
{
	for (long c = ncpus; c < SPEC_CPUS_MAX; c++)
		if (mask[c / 64] & (1ull << (c % 64)))
			return spec_fail(err, errlen, label, "CPU %ld: this host has %ld CPUs",
					  c, ncpus);
	return 0;
}

int spec_sched_check(const struct vm_spec *vm, const char *label, char *err, size_t errlen)
{
	const struct spec_sched *s = &vm->sched;
	long ncpus = sysconf(_SC_NPROCESSORS_CONF);
	char l[SCHED_LABEL_LEN];
	int ret;

	if (s->vcpu_weights && s->nvcpu_weights != vm->vcpus)
		return spec_fail(err, errlen, label, "vcpu_weights has %zu entries for %u vCPUs",
				  s->nvcpu_weights, vm->vcpus);
	if (s->vcpu_affinity && s->nvcpu_affinity != vm->vcpus)
		return spec_fail(err, errlen, label, "vcpu_affinity has %zu entries for %u vCPUs",
				  s->nvcpu_affinity, vm->vcpus);
	if (s->min_weight && s->max_weight && s->min_weight > s->max_weight)
		return spec_fail(err, errlen, label, "adaptive.min_weight %u is above "
				  "adaptive.max_weight %u", s->min_weight, s->max_weight);
	for (size_t i = 0; i < s->nvcpu_affinity; i++) {
		snprintf(l, sizeof(l), "%.250s.vcpu_affinity[%zu]", label, i);
		ret = cpus_check(s->vcpu_affinity[i], ncpus, l, err, errlen);
		if (ret)
			return ret;
	}
	snprintf(l, sizeof(l), "%.250s.io_affinity", label);
	return cpus_check(s->io_affinity, ncpus, l, err, errlen);
}
