#include "introspect/ptwalk.h"

#include <errno.h>
#include <string.h>

#include "mem/guest_mem.h"

#define PTE_P    (1ULL << 0)
#define PTE_RW   (1ULL << 1)
#define PTE_US   (1ULL << 2)
#define PTE_PS   (1ULL << 7)
#define PTE_NX   (1ULL << 63)
/* Physical address bits 12..51: the architectural maximum. */
#define PTE_ADDR 0x000ffffffffff000ULL

void ptw_init(struct ptw *w, const struct guest_mem *mem, uint64_t cr3, uint64_t cr4,
              uint64_t efer)
{
    w->mem = mem;
    w->cr3 = cr3;
    w->la57 = cr4 & PTW_CR4_LA57;
    w->nxe = efer & PTW_EFER_NXE;
}

static bool ptw_canonical(const struct ptw *w, uint64_t gva)
{
    unsigned bits = w->la57 ? 57 : 48;
    int64_t s = (int64_t)(gva << (64 - bits)) >> (64 - bits);

    return (uint64_t)s == gva;
}

static int ptw_entry(const struct ptw *w, gpa_t table, unsigned index, uint64_t *pte)
{
    const void *p = guest_mem_ptr(w->mem, table + index * 8ULL, 8);

    if (!p)
        return -EFAULT;
    /* The guest may change it under us: read it once. */
    __atomic_load((const uint64_t *)p, pte, __ATOMIC_RELAXED);
    return 0;
}

int ptw_translate(const struct ptw *w, uint64_t gva, gpa_t *gpa, struct ptw_info *info)
{
    unsigned level = w->la57 ? 5 : 4;
    gpa_t table = w->cr3 & PTE_ADDR;
    struct ptw_info in = { .writable = true, .user = true, .exec = true };

    if (!ptw_canonical(w, gva))
        return -EINVAL;
    for (; level >= 1; level--) {
        unsigned shift = 12 + 9 * (level - 1);
        uint64_t pte;
        int ret = ptw_entry(w, table, (gva >> shift) & 0x1ff, &pte);

        if (ret)
            return ret;
        if (!(pte & PTE_P))
            return -EFAULT;
        in.writable &= !!(pte & PTE_RW);
        in.user &= !!(pte & PTE_US);
        if (w->nxe && (pte & PTE_NX))
            in.exec = false;
        /* PS means a 1 GiB page in a PDPT entry, 2 MiB in a PD entry;
         * the bit is reserved above (treat it as not present). */
        if (level > 1 && (pte & PTE_PS)) {
            if (level > 3)
                return -EFAULT;
            in.page_size = 1ULL << shift;
            *gpa = (pte & PTE_ADDR & ~(in.page_size - 1)) | (gva & (in.page_size - 1));
            break;
        }
        if (level == 1) {
            in.page_size = PTW_PAGE_4K;
            *gpa = (pte & PTE_ADDR) | (gva & (PTW_PAGE_4K - 1));
        }
        table = pte & PTE_ADDR;
    }
    if (info)
        *info = in;
    return 0;
}

/* Call fn for each page-sized piece of [gva, gva+len). */
static int ptw_each(const struct ptw *w, uint64_t gva, size_t len,
                    int (*fn)(void *host, size_t n, void *ctx), void *ctx)
{
    while (len) {
        size_t n = PTW_PAGE_4K - (gva & (PTW_PAGE_4K - 1));
        gpa_t gpa;
        void *host;
        int ret;

        if (n > len)
            n = len;
        ret = ptw_translate(w, gva, &gpa, NULL);
        if (ret)
            return ret;
        host = guest_mem_ptr(w->mem, gpa, n);
        if (!host)
            return -EFAULT;
        ret = fn(host, n, ctx);
        if (ret)
            return ret;
        gva += n;
        len -= n;
    }
    return 0;
}

static int ptw_copy_out(void *host, size_t n, void *ctx)
{
    uint8_t **dst = ctx;

    memcpy(*dst, host, n);
    *dst += n;
    return 0;
}

static int ptw_copy_in(void *host, size_t n, void *ctx)
{
    const uint8_t **src = ctx;

    memcpy(host, *src, n);
    *src += n;
    return 0;
}

int ptw_read(const struct ptw *w, uint64_t gva, void *buf, size_t len)
{
    uint8_t *dst = buf;

    return ptw_each(w, gva, len, ptw_copy_out, &dst);
}

int ptw_write(const struct ptw *w, uint64_t gva, const void *buf, size_t len)
{
    const uint8_t *src = buf;

    return ptw_each(w, gva, len, ptw_copy_in, &src);
}

int ptw_read_u64(const struct ptw *w, uint64_t gva, uint64_t *val)
{
    return ptw_read(w, gva, val, sizeof(*val));
}

int ptw_read_str(const struct ptw *w, uint64_t gva, char *buf, size_t cap)
{
    size_t got = 0;

    if (!cap)
        return -ENAMETOOLONG;
    buf[0] = '\0';
    while (got < cap - 1) {
        size_t n = PTW_PAGE_4K - (gva & (PTW_PAGE_4K - 1));
        const char *host, *nul;
        gpa_t gpa;
        int ret;

        if (n > cap - 1 - got)
            n = cap - 1 - got;
        ret = ptw_translate(w, gva, &gpa, NULL);
        if (ret)
            return ret;
        host = guest_mem_ptr(w->mem, gpa, n);
        if (!host)
            return -EFAULT;
        /* Copy first, then look: the guest may change it meanwhile. */
        memcpy(buf + got, host, n);
        nul = memchr(buf + got, '\0', n);
        if (nul)
            return 0;
        got += n;
        buf[got] = '\0';
        gva += n;
    }
    return -ENAMETOOLONG;
}
