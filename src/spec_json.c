/*
 * Reading a JSON document for the spec parsers, strictly: the text is one
 * JSON value and nothing else, and no string in it, key or value, holds
 * U+0000.  cJSON hands strings out NUL-terminated, so "ab\u0000/../x"
 * would silently become "ab"; such a string is refused under its path.
 */
#include "spec_json.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define JSON_PATH_LEN 256

/* The string, in document order, that the walk below looks for. */
struct nul_search {
	long left;                 /* strings (keys and values) still to pass */
	bool key;                  /* the one found is a key */
	char path[JSON_PATH_LEN];  /* its path, once found */
};

static int json_fail_syntax(const char *json, const char *at, const char *label,
			    char *err, size_t errlen)
{
	unsigned line = 1, col = 1;
	const char *p;

	for (p = json; at && p < at && *p; p++) {
		if (*p == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	return spec_fail(err, errlen, label, "invalid JSON at line %u, column %u", line, col);
}

/*
 * Position, in document order, of the first string literal (key or value)
 * holding the escape \u0000; -1 if there is none.  The text is valid JSON,
 * so outside strings a quote always opens one.
 */
static long json_nul_string_index(const char *json)
{
	bool in_string = false;
	long index = -1;

	for (const char *p = json; *p; p++) {
		if (*p == '"') {
			in_string = !in_string;
			index += in_string;
		} else if (in_string && *p == '\\') {
			if (!strncmp(p + 1, "u0000", 5))
				return index;
			p++;	/* the escaped character */
		}
	}
	return -1;
}

/* Walk v's keys and strings in document order, extending s->path, until
 * s->left of them have gone by; cJSON keeps members in document order. */
static bool json_nul_walk(struct nul_search *s, const cJSON *v)
{
	size_t len = strlen(s->path), i = 0;
	char seg[64];
	const cJSON *c;

	if (cJSON_IsString(v))
		return s->left-- == 0;
	if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
		return false;
	cJSON_ArrayForEach(c, v) {
		if (cJSON_IsObject(v))
			spec_path_join(seg, sizeof(seg), "", c->string);
		else
			snprintf(seg, sizeof(seg), "[%zu]", i++);
		snprintf(s->path + len, sizeof(s->path) - len, "%s%s",
			 len && cJSON_IsObject(v) ? "." : "", seg);
		if (cJSON_IsObject(v) && s->left-- == 0) {
			s->key = true;
			return true;
		}
		if (json_nul_walk(s, c))
			return true;
		s->path[len] = '\0';
	}
	return false;
}

static int json_fail_nul(const cJSON *root, long index, const char *label, char *err,
			 size_t errlen)
{
	struct nul_search s = { .left = index };

	snprintf(s.path, sizeof(s.path), "%s", label);
	if (!json_nul_walk(&s, root))
		snprintf(s.path, sizeof(s.path), "%s", label);
	return spec_fail(err, errlen, s.path, "expected %s without NUL (\\u0000) characters",
			 s.key ? "a key" : "text");
}

cJSON *spec_json_parse(const char *json, size_t len, const char *label, char *err,
		       size_t errlen)
{
	const char *end = json + strlen(json);
	cJSON *root = NULL;
	long nul;

	if (end == json + len)	/* else a NUL byte ends the text early */
		root = cJSON_ParseWithOpts(json, &end, 1);
	if (!root) {
		json_fail_syntax(json, end, label, err, errlen);
		return NULL;
	}
	nul = json_nul_string_index(json);
	if (nul < 0)
		return root;
	json_fail_nul(root, nul, label, err, errlen);
	cJSON_Delete(root);
	return NULL;
}
