/* BTF layout (linux/btf.h): a header, then a type section of variable
 * length records (struct btf_type, then data whose size depends on the
 * kind), then a string section of NUL-terminated names.  Type ids count
 * the records from 1; 0 is void. */
#include "introspect/btf.h"

#include <errno.h>
#include <linux/btf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define BTF_ANON_DEPTH 8        /* anonymous structs inside structs */
#define BTF_MODIFIER_CHAIN 32   /* typedef/const/volatile steps */

struct isp_btf {
    const uint8_t *types;       /* type section */
    uint32_t types_len;
    const char *strs;           /* string section */
    uint32_t strs_len;
    uint32_t *index;            /* index[id - 1]: offset of type id */
    uint32_t ntypes;
};

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

size_t isp_btf_size(const uint8_t *data, size_t len)
{
    struct btf_header h;
    uint64_t end;

    if (len < sizeof(h))
        return 0;
    memcpy(&h, data, sizeof(h));
    if (h.magic != BTF_MAGIC || h.version != BTF_VERSION || h.hdr_len < sizeof(h))
        return 0;
    end = (uint64_t)h.type_off + h.type_len;
    if ((uint64_t)h.str_off + h.str_len > end)
        end = (uint64_t)h.str_off + h.str_len;
    return (size_t)(h.hdr_len + end);
}

/* Bytes following a struct btf_type of this kind, or -1 for a kind this
 * reader does not know (a newer kernel: refuse rather than misread). */
static int64_t btf_extra(uint32_t info)
{
    uint32_t vlen = BTF_INFO_VLEN(info);

    switch (BTF_INFO_KIND(info)) {
    case BTF_KIND_INT: case BTF_KIND_VAR: case BTF_KIND_DECL_TAG:
        return 4;
    case BTF_KIND_ARRAY:
        return sizeof(struct btf_array);
    case BTF_KIND_STRUCT: case BTF_KIND_UNION: case BTF_KIND_DATASEC: case BTF_KIND_ENUM64:
        return 12LL * vlen;
    case BTF_KIND_ENUM: case BTF_KIND_FUNC_PROTO:
        return 8LL * vlen;
    case BTF_KIND_PTR: case BTF_KIND_FWD: case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE:
    case BTF_KIND_CONST: case BTF_KIND_RESTRICT: case BTF_KIND_FUNC: case BTF_KIND_FLOAT:
    case BTF_KIND_TYPE_TAG:
        return 0;
    default:
        return -1;
    }
}

static int btf_index(struct isp_btf *b)
{
    uint32_t cap = 1024, off = 0;

    b->index = malloc(cap * sizeof(*b->index));
    if (!b->index)
        return -ENOMEM;
    while (off < b->types_len) {
        int64_t extra;

        if (b->types_len - off < sizeof(struct btf_type))
            return -EINVAL;
        extra = btf_extra(rd32(b->types + off + 4));
        if (extra < 0 || (uint64_t)extra > b->types_len - off - sizeof(struct btf_type) ||
            b->ntypes == BTF_MAX_TYPE)
            return -EINVAL;
        if (b->ntypes == cap) {
            uint32_t *n = realloc(b->index, 2 * cap * sizeof(*n));

            if (!n)
                return -ENOMEM;
            b->index = n;
            cap *= 2;
        }
        b->index[b->ntypes++] = off;
        off += (uint32_t)(sizeof(struct btf_type) + extra);
    }
    return 0;
}

int isp_btf_open(const uint8_t *data, size_t len, struct isp_btf **out)
{
    struct btf_header h;
    struct isp_btf *b;
    size_t size = isp_btf_size(data, len);
    int ret;

    if (!size || size > len)
        return -EINVAL;
    memcpy(&h, data, sizeof(h));
    if (h.type_off % 4 || h.type_len % 4 || !h.str_len)
        return -EINVAL;
    b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->types = data + h.hdr_len + h.type_off;
    b->types_len = h.type_len;
    b->strs = (const char *)data + h.hdr_len + h.str_off;
    b->strs_len = h.str_len;
    /* the last name must end inside the section */
    ret = b->strs[b->strs_len - 1] ? -EINVAL : btf_index(b);
    if (ret) {
        isp_btf_free(b);
        return ret;
    }
    *out = b;
    return 0;
}

void isp_btf_free(struct isp_btf *b)
{
    if (!b)
        return;
    free(b->index);
    free(b);
}

static const char *btf_name(const struct isp_btf *b, uint32_t off)
{
    return off < b->strs_len ? b->strs + off : "";
}

/* The record of type id, or NULL (void, or out of range). */
static const uint8_t *btf_type(const struct isp_btf *b, uint32_t id)
{
    return id && id <= b->ntypes ? b->types + b->index[id - 1] : NULL;
}

/* Follow typedefs and qualifiers to the type they name. */
static const uint8_t *btf_resolve(const struct isp_btf *b, uint32_t id)
{
    const uint8_t *t = btf_type(b, id);

    for (unsigned i = 0; t && i < BTF_MODIFIER_CHAIN; i++) {
        switch (BTF_INFO_KIND(rd32(t + 4))) {
        case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE: case BTF_KIND_CONST:
        case BTF_KIND_RESTRICT: case BTF_KIND_TYPE_TAG:
            t = btf_type(b, rd32(t + 8));
            break;
        default:
            return t;
        }
    }
    return NULL;
}

static bool btf_is_composite(const uint8_t *t)
{
    uint32_t kind = t ? BTF_INFO_KIND(rd32(t + 4)) : 0;

    return kind == BTF_KIND_STRUCT || kind == BTF_KIND_UNION;
}

/* Bit offset of member in struct/union t, searching anonymous members. */
static int btf_member_bits(const struct isp_btf *b, const uint8_t *t, const char *member,
                           unsigned depth, uint64_t *bits)
{
    uint32_t info = rd32(t + 4);
    const uint8_t *m = t + sizeof(struct btf_type);

    for (uint32_t i = 0; i < BTF_INFO_VLEN(info); i++, m += sizeof(struct btf_member)) {
        uint32_t raw = rd32(m + 8);
        uint64_t at = BTF_INFO_KFLAG(info) ? BTF_MEMBER_BIT_OFFSET(raw) : raw;
        const uint8_t *mt;

        if (rd32(m)) {
            if (strcmp(btf_name(b, rd32(m)), member))
                continue;
            if (BTF_INFO_KFLAG(info) && BTF_MEMBER_BITFIELD_SIZE(raw))
                return -EINVAL;
            *bits = at;
            return 0;
        }
        mt = btf_resolve(b, rd32(m + 4));
        if (depth < BTF_ANON_DEPTH && btf_is_composite(mt) &&
            !btf_member_bits(b, mt, member, depth + 1, bits)) {
            *bits += at;
            return 0;
        }
    }
    return -ENOENT;
}

int isp_btf_member_offset(const struct isp_btf *b, const char *strct, const char *member,
                          uint32_t *off)
{
    for (uint32_t id = 1; id <= b->ntypes; id++) {
        const uint8_t *t = btf_type(b, id);
        uint64_t bits;
        int ret;

        if (BTF_INFO_KIND(rd32(t + 4)) != BTF_KIND_STRUCT ||
            strcmp(btf_name(b, rd32(t)), strct))
            continue;
        ret = btf_member_bits(b, t, member, 0, &bits);
        if (ret)
            return ret;
        if (bits % 8 || bits / 8 > UINT32_MAX)
            return -EINVAL;
        *off = (uint32_t)(bits / 8);
        return 0;
    }
    return -ENOENT;
}
