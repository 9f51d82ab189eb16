/* A small, bounds-checked reader for the flattened device tree (format
 * version 17).  Only what payloads need: find a node by path, read its
 * properties, walk its children. */
#include "fw.h"

#define FDT_MAGIC       0xd00dfeedu
#define FDT_BEGIN_NODE  1u
#define FDT_END_NODE    2u
#define FDT_PROP        3u
#define FDT_NOP         4u
#define FDT_END         9u

static struct {
    const uint8_t *st;      /* structure block */
    uint32_t st_size;
    const char *strs;       /* strings block */
    uint32_t str_size;
} tree;

static uint32_t be32(const void *p)
{
    const uint8_t *b = p;

    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint32_t align4(uint32_t v)
{
    return (v + 3) & ~3u;
}

static uint32_t bounded_strlen(const char *s, uint32_t max)
{
    uint32_t n = 0;

    while (n < max && s[n])
        n++;
    return n;
}

int fw_fdt_init(const void *fdt)
{
    const uint8_t *h = fdt;
    uint32_t total, off_st, off_str, size_str, size_st;

    if (!fdt || be32(h) != FDT_MAGIC || be32(h + 20) < 16)
        return -1;
    total = be32(h + 4);
    off_st = be32(h + 8);
    off_str = be32(h + 12);
    size_str = be32(h + 32);
    size_st = be32(h + 36);
    if (total > LAYOUT_FDT_MAX || off_st > total || size_st > total - off_st ||
        off_str > total || size_str > total - off_str || off_st % 4)
        return -1;
    tree.st = h + off_st;
    tree.st_size = size_st;
    tree.strs = (const char *)h + off_str;
    tree.str_size = size_str;
    return 0;
}

bool fw_fdt_ready(void)
{
    return tree.st != NULL;
}

/* The token at off; *next is where the following token starts.  Returns
 * the token, or 0 when the blob is malformed there. */
static uint32_t token(int off, uint32_t *next)
{
    uint32_t o = (uint32_t)off, tok, len;

    if (!tree.st || off < 0 || o % 4 || tree.st_size < 4 || o > tree.st_size - 4)
        return 0;
    tok = be32(tree.st + o);
    o += 4;
    switch (tok) {
    case FDT_BEGIN_NODE:
        len = bounded_strlen((const char *)tree.st + o, tree.st_size - o);
        if (len == tree.st_size - o)
            return 0;
        o = align4(o + len + 1);
        break;
    case FDT_PROP:
        if (tree.st_size - o < 8)
            return 0;
        len = be32(tree.st + o);
        o += 8;
        if (len > tree.st_size - o)
            return 0;
        o = align4(o + len);
        break;
    case FDT_END_NODE:
    case FDT_NOP:
    case FDT_END:
        break;
    default:
        return 0;
    }
    if (o > tree.st_size)
        return 0;
    *next = o;
    return tok;
}

/* Skip properties and NOPs from off; the offset of the next node token
 * if it is a BEGIN_NODE, else -1. */
static int next_begin(uint32_t off)
{
    for (;;) {
        uint32_t next, tok = token((int)off, &next);

        if (tok == FDT_BEGIN_NODE)
            return (int)off;
        if (tok != FDT_PROP && tok != FDT_NOP)
            return -1;
        off = next;
    }
}

/* Offset just past the END_NODE that closes node. */
static int node_end(int node)
{
    uint32_t off = (uint32_t)node, depth = 0;

    for (;;) {
        uint32_t next, tok = token((int)off, &next);

        if (tok == FDT_BEGIN_NODE) {
            depth++;
        } else if (tok == FDT_END_NODE) {
            if (--depth == 0)
                return (int)next;
        } else if (tok != FDT_PROP && tok != FDT_NOP) {
            return -1;
        }
        off = next;
    }
}

int fw_fdt_first_child(int node)
{
    uint32_t next;

    if (token(node, &next) != FDT_BEGIN_NODE)
        return -1;
    return next_begin(next);
}

int fw_fdt_next_sibling(int node)
{
    int end = node_end(node);

    return end < 0 ? -1 : next_begin((uint32_t)end);
}

const char *fw_fdt_name(int node)
{
    uint32_t next;

    if (token(node, &next) != FDT_BEGIN_NODE)
        return NULL;
    return (const char *)tree.st + node + 4;
}

/* name is `want`, or `want@unit` when want has no unit address. */
static bool name_matches(const char *name, const char *want, size_t want_len)
{
    bool has_unit = false;

    for (size_t i = 0; i < want_len; i++) {
        if (name[i] != want[i])     /* also stops at the end of name */
            return false;
        has_unit |= want[i] == '@';
    }
    return name[want_len] == '\0' || (!has_unit && name[want_len] == '@');
}

int fw_fdt_path(const char *path)
{
    int node = 0;

    if (!tree.st || path[0] != '/' || token(0, &(uint32_t){ 0 }) != FDT_BEGIN_NODE)
        return -1;
    while (*path) {
        const char *comp;
        size_t len = 0;

        while (*path == '/')
            path++;
        if (!*path)
            break;
        comp = path;
        while (comp[len] && comp[len] != '/')
            len++;
        path += len;
        for (node = fw_fdt_first_child(node); node >= 0; node = fw_fdt_next_sibling(node))
            if (name_matches(fw_fdt_name(node), comp, len))
                break;
        if (node < 0)
            return -1;
    }
    return node;
}

const void *fw_fdt_prop(int node, const char *name, uint32_t *len)
{
    uint32_t off;

    if (token(node, &off) != FDT_BEGIN_NODE)
        return NULL;
    for (;;) {
        uint32_t next, tok = token((int)off, &next);

        if (tok == FDT_PROP) {
            uint32_t nameoff = be32(tree.st + off + 8);

            if (nameoff < tree.str_size &&
                bounded_strlen(tree.strs + nameoff, tree.str_size - nameoff) <
                    tree.str_size - nameoff &&
                strcmp(tree.strs + nameoff, name) == 0) {
                if (len)
                    *len = be32(tree.st + off + 4);
                return tree.st + off + 12;
            }
        } else if (tok != FDT_NOP) {
            return NULL;
        }
        off = next;
    }
}

bool fw_fdt_prop_u32(int node, const char *name, uint32_t *val)
{
    uint32_t len;
    const void *p = fw_fdt_prop(node, name, &len);

    if (!p || len != 4)
        return false;
    *val = be32(p);
    return true;
}

bool fw_fdt_prop_is(int node, const char *name, const char *want)
{
    uint32_t len;
    const char *p = fw_fdt_prop(node, name, &len);

    return p && len == strlen(want) + 1 && memcmp(p, want, len) == 0;
}

int fw_fdt_count_children(int node, const char *base)
{
    size_t blen = strlen(base);
    int n = 0;

    for (int c = fw_fdt_first_child(node); c >= 0; c = fw_fdt_next_sibling(c))
        if (name_matches(fw_fdt_name(c), base, blen))
            n++;
    return n;
}

/* Cells at p (count 1 or 2) as one number. */
static uint64_t read_cells(const uint8_t *p, uint32_t cells)
{
    return cells == 2 ? (uint64_t)be32(p) << 32 | be32(p + 4) : be32(p);
}

bool fw_mem_range(unsigned i, uint64_t *base, uint64_t *size)
{
    uint32_t ac = 2, sc = 1, len;
    int root = fw_fdt_path("/");

    if (root < 0)
        return false;
    fw_fdt_prop_u32(root, "#address-cells", &ac);
    fw_fdt_prop_u32(root, "#size-cells", &sc);
    if (ac < 1 || ac > 2 || sc < 1 || sc > 2)
        return false;
    for (int c = fw_fdt_first_child(root); c >= 0; c = fw_fdt_next_sibling(c)) {
        const uint8_t *reg;
        uint32_t pair = 4 * (ac + sc), n;

        if (!name_matches(fw_fdt_name(c), "memory", 6))
            continue;
        reg = fw_fdt_prop(c, "reg", &len);
        if (!reg)
            continue;
        n = len / pair;
        if (i < n) {
            *base = read_cells(reg + i * pair, ac);
            *size = read_cells(reg + i * pair + 4 * ac, sc);
            return true;
        }
        i -= n;
    }
    return false;
}

uint64_t fw_mem_total(void)
{
    uint64_t base, size, total = 0;

    for (unsigned i = 0; fw_mem_range(i, &base, &size); i++)
        total += size;
    return total;
}

const char *fw_param(const char *key)
{
    uint32_t len;
    const char *val = fw_fdt_prop(fw_fdt_path("/kvmm/params"), key, &len);

    if (!val || len == 0 || val[len - 1] != '\0')
        return NULL;
    return val;
}

int fw_param_u64(const char *key, uint64_t *val)
{
    const char *s = fw_param(key);
    unsigned base = 10;
    uint64_t v = 0;

    if (!s)
        return 0;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (!*s)
        return -1;
    for (; *s; s++) {
        unsigned d;

        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (base == 16 && (*s | 0x20) >= 'a' && (*s | 0x20) <= 'f')
            d = (unsigned)((*s | 0x20) - 'a' + 10);
        else
            return -1;
        if (v > (UINT64_MAX - d) / base)
            return -1;
        v = v * base + d;
    }
    *val = v;
    return 1;
}
