/* Unit tests for the BTF reader and the profile's member offsets, over
 * small BTF blobs built here: members at byte offsets, members of
 * anonymous unions and of typedef'd anonymous structs, bit fields, and
 * hostile blobs (truncated, unknown kinds, loops). */
#include <errno.h>
#include <linux/btf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "introspect/btf.h"
#include "introspect/profile.h"

struct blob {
    uint8_t types[1024];
    size_t ntypes_len;
    char strs[512];
    size_t strs_len;
    uint8_t out[2048];
    size_t len;
};

static void put32(struct blob *b, uint32_t v)
{
    memcpy(b->types + b->ntypes_len, &v, 4);
    b->ntypes_len += 4;
}

/* Offset of name in the string section (added when new). */
static uint32_t str(struct blob *b, const char *name)
{
    uint32_t off = (uint32_t)b->strs_len;

    if (!*name)
        return 0;
    memcpy(b->strs + off, name, strlen(name) + 1);
    b->strs_len += strlen(name) + 1;
    return off;
}

static void type(struct blob *b, const char *name, unsigned kind, unsigned vlen, bool kflag,
                 uint32_t size_or_type)
{
    put32(b, str(b, name));
    put32(b, (uint32_t)kind << 24 | vlen | (kflag ? 1u << 31 : 0));
    put32(b, size_or_type);
}

static void member(struct blob *b, const char *name, uint32_t type_id, uint32_t off)
{
    put32(b, str(b, name));
    put32(b, type_id);
    put32(b, off);
}

static void blob_init(struct blob *b)
{
    memset(b, 0, sizeof(*b));
    b->strs_len = 1;    /* offset 0: the empty name */
}

static const uint8_t *blob_pack(struct blob *b)
{
    struct btf_header h = {
        .magic = BTF_MAGIC, .version = BTF_VERSION, .hdr_len = sizeof(h),
        .type_off = 0, .type_len = (uint32_t)b->ntypes_len,
        .str_off = (uint32_t)b->ntypes_len, .str_len = (uint32_t)b->strs_len,
    };

    memcpy(b->out, &h, sizeof(h));
    memcpy(b->out + sizeof(h), b->types, b->ntypes_len);
    memcpy(b->out + sizeof(h) + b->ntypes_len, b->strs, b->strs_len);
    b->len = sizeof(h) + b->ntypes_len + b->strs_len;
    return b->out;
}

/* A kernel-like layout:
 *   1 int; 2 union { int u1; int u2; }; 3 char[16];
 *   4 struct task_struct (kind_flag) { int pid @8; int tgid @12; union @16;
 *                                      char comm[16] @32; int bf:3 @48 };
 *   5 struct inner { int a; int b; }; 6 typedef inner inner_t; 7 const inner_t;
 *   8 struct outer { int x; const inner_t (anonymous) @8; }
 *   9 struct loop { struct loop (anonymous); }  -- hostile */
static void kernel_like(struct blob *b)
{
    blob_init(b);
    type(b, "int", BTF_KIND_INT, 0, false, 4);
    put32(b, 32);
    type(b, "", BTF_KIND_UNION, 2, false, 4);
    member(b, "u1", 1, 0);
    member(b, "u2", 1, 0);
    type(b, "", BTF_KIND_ARRAY, 0, false, 0);
    put32(b, 1), put32(b, 1), put32(b, 16);
    type(b, "task_struct", BTF_KIND_STRUCT, 5, true, 64);
    member(b, "pid", 1, 64);
    member(b, "tgid", 1, 96);
    member(b, "", 2, 128);
    member(b, "comm", 3, 256);
    member(b, "bf", 1, 3u << 24 | 384);
    type(b, "inner", BTF_KIND_STRUCT, 2, false, 8);
    member(b, "a", 1, 0);
    member(b, "b", 1, 32);
    type(b, "inner_t", BTF_KIND_TYPEDEF, 0, false, 5);
    type(b, "", BTF_KIND_CONST, 0, false, 6);
    type(b, "outer", BTF_KIND_STRUCT, 2, false, 16);
    member(b, "x", 1, 0);
    member(b, "", 7, 64);
    type(b, "loop", BTF_KIND_STRUCT, 1, false, 8);
    member(b, "", 9, 0);
}

static uint32_t offset_of(const struct isp_btf *btf, const char *s, const char *m)
{
    uint32_t off = 0xdead;

    if (isp_btf_member_offset(btf, s, m, &off))
        fail_msg("%s.%s not found", s, m);
    return off;
}

static void test_btf_offsets(void **state)
{
    struct blob b;
    struct isp_btf *btf;
    uint32_t off;
    const uint8_t *data;

    (void)state;
    kernel_like(&b);
    data = blob_pack(&b);
    assert_int_equal(isp_btf_size(data, b.len), b.len);
    assert_int_equal(isp_btf_open(data, b.len, &btf), 0);
    assert_int_equal(offset_of(btf, "task_struct", "pid"), 8);
    assert_int_equal(offset_of(btf, "task_struct", "tgid"), 12);
    assert_int_equal(offset_of(btf, "task_struct", "u2"), 16);     /* anonymous union */
    assert_int_equal(offset_of(btf, "task_struct", "comm"), 32);
    assert_int_equal(offset_of(btf, "outer", "b"), 12);            /* const typedef'd */
    assert_int_equal(isp_btf_member_offset(btf, "task_struct", "bf", &off), -EINVAL);
    assert_int_equal(isp_btf_member_offset(btf, "task_struct", "nope", &off), -ENOENT);
    assert_int_equal(isp_btf_member_offset(btf, "no_struct", "pid", &off), -ENOENT);
    /* an anonymous member of its own type: bounded, not found */
    assert_int_equal(isp_btf_member_offset(btf, "loop", "x", &off), -ENOENT);
    /* a union is not a struct of that name */
    assert_int_equal(isp_btf_member_offset(btf, "", "u1", &off), -ENOENT);
    isp_btf_free(btf);
}

static void test_btf_hostile(void **state)
{
    struct blob b;
    struct isp_btf *btf = NULL;
    const uint8_t *data;
    uint8_t copy[2048];

    (void)state;
    kernel_like(&b);
    data = blob_pack(&b);
    /* shorter than the header says */
    assert_int_equal(isp_btf_open(data, b.len - 1, &btf), -EINVAL);
    assert_int_equal(isp_btf_open(data, 10, &btf), -EINVAL);
    assert_int_equal(isp_btf_size(data, 10), 0);
    /* not BTF */
    memcpy(copy, data, b.len);
    copy[0] ^= 0xff;
    assert_int_equal(isp_btf_size(copy, b.len), 0);
    assert_int_equal(isp_btf_open(copy, b.len, &btf), -EINVAL);
    /* a string section without its final NUL */
    memcpy(copy, data, b.len);
    copy[b.len - 1] = 'x';
    assert_int_equal(isp_btf_open(copy, b.len, &btf), -EINVAL);
    /* a kind this reader does not know */
    memcpy(copy, data, b.len);
    copy[sizeof(struct btf_header) + 7] = 0x1f;
    assert_int_equal(isp_btf_open(copy, b.len, &btf), -EINVAL);
    /* a struct whose members run past the type section */
    blob_init(&b);
    type(&b, "s", BTF_KIND_STRUCT, 200, false, 4);
    member(&b, "m", 0, 0);
    data = blob_pack(&b);
    assert_int_equal(isp_btf_open(data, b.len, &btf), -EINVAL);
    assert_null(btf);
    /* a typedef loop under an anonymous member ends */
    blob_init(&b);
    type(&b, "t1", BTF_KIND_TYPEDEF, 0, false, 2);
    type(&b, "t2", BTF_KIND_TYPEDEF, 0, false, 1);
    type(&b, "s", BTF_KIND_STRUCT, 1, false, 4);
    member(&b, "", 1, 0);
    data = blob_pack(&b);
    assert_int_equal(isp_btf_open(data, b.len, &btf), 0);
    uint32_t off;
    assert_int_equal(isp_btf_member_offset(btf, "s", "m", &off), -ENOENT);
    isp_btf_free(btf);
}

static void test_profile_btf_fields(void **state)
{
    struct isp_profile p = { 0 };
    struct blob b;
    const uint8_t *data;
    uint32_t off;
    char err[256];

    (void)state;
    kernel_like(&b);
    data = blob_pack(&b);
    /* the task's fields are there, the file table's are not */
    assert_int_equal(isp_profile_btf(&p, data, b.len, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "task_struct.files"));
    assert_true(isp_profile_field(&p, "task_struct.pid", &off));
    assert_int_equal(off, 8);
    assert_true(isp_profile_field(&p, "task_struct.tgid", &off));
    assert_int_equal(off, 12);
    assert_true(isp_profile_field(&p, "task_struct.comm", &off));
    assert_int_equal(off, 32);
    assert_false(isp_profile_field(&p, "fdtable.fd", &off));
    /* pcpu_hot (kernels from 6.2) is optional: its absence is not named */
    assert_null(strstr(err, "pcpu_hot"));
    assert_false(isp_profile_field(&p, ISP_FIELD_HOT_CURRENT, &off));
    blob_init(&b);
    type(&b, "int", BTF_KIND_INT, 0, false, 8);
    put32(&b, 64);
    type(&b, "pcpu_hot", BTF_KIND_STRUCT, 2, false, 64);
    member(&b, "preempt_count", 1, 0);
    member(&b, "current_task", 1, 64);
    data = blob_pack(&b);
    assert_int_equal(isp_profile_btf(&p, data, b.len, err, sizeof(err)), -ENOENT);
    assert_true(isp_profile_field(&p, ISP_FIELD_HOT_CURRENT, &off));
    assert_int_equal(off, 8);
    assert_int_equal(isp_profile_btf(&p, (const uint8_t *)"junk", 4, err, sizeof(err)),
                     -EINVAL);
}

/* A profile file's "offsets" and the per-CPU current_task symbol. */
static void test_profile_offsets_load(void **state)
{
    char path[] = "/tmp/kvmm-test-profile.XXXXXX", err[256];
    struct isp_profile p;
    uint64_t addr;
    uint32_t off;
    FILE *f;
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    fputs("{\"symbols\": {\"entry_SYSCALL_64\": \"0xffffffff81e00000\", "
          "\"current_task\": \"0x1fbc0\"}, \"offsets\": {\"task_struct.pid\": 2456, "
          "\"task_struct.comm\": 3016}}", f);
    fclose(f);
    assert_int_equal(isp_profile_load(path, &p, err, sizeof(err)), 0);
    assert_true(isp_profile_lookup(&p, ISP_SYM_CURRENT, &addr));
    assert_int_equal(addr, 0x1fbc0);
    assert_true(isp_profile_field(&p, "task_struct.pid", &off));
    assert_int_equal(off, 2456);
    assert_true(isp_profile_field(&p, "task_struct.comm", &off));
    assert_int_equal(off, 3016);
    f = fopen(path, "w");
    fputs("{\"symbols\": {}, \"offsets\": {\"task_struct.pid\": -1}}", f);
    fclose(f);
    assert_int_equal(isp_profile_load(path, &p, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "offsets.task_struct.pid: expected an integer"));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_btf_offsets),
        cmocka_unit_test(test_btf_hostile),
        cmocka_unit_test(test_profile_btf_fields),
        cmocka_unit_test(test_profile_offsets_load),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
