#include "introspect/profile.h"

#include <cjson/cJSON.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "introspect/btf.h"
#include "introspect/jsonutil.h"
#include "introspect/profile_boot.h"

const char *const isp_profile_wanted[] = {
    ISP_SYM_ENTRY, "__x64_sys_execve", "__x64_sys_execveat", "__x64_sys_init_module",
    "__x64_sys_finit_module", ISP_SYM_STEXT, ISP_SYM_ETEXT, ISP_SYM_CURRENT, ISP_SYM_PCPU_HOT,
    NULL,
};

/* Who made a call (pid, tgid, comm) and which file a descriptor names
 * (task -> files -> fdt -> fd[n] -> f_path.dentry -> d_name, d_parent). */
const char *const isp_profile_fields[] = {
    "task_struct.pid", "task_struct.tgid", "task_struct.comm", "task_struct.files",
    "files_struct.fdt", "fdtable.max_fds", "fdtable.fd", "file.f_path", "path.dentry",
    "dentry.d_parent", "dentry.d_name", "qstr.name", ISP_FIELD_HOT_CURRENT, NULL,
};

/* Kernels from 6.2 keep the current task in pcpu_hot, older ones in
 * current_task: a kernel has one of the two. */
static bool field_optional(const char *name)
{
    return !strcmp(name, ISP_FIELD_HOT_CURRENT);
}

static bool wanted(const char *name)
{
    for (unsigned i = 0; isp_profile_wanted[i]; i++)
        if (!strcmp(name, isp_profile_wanted[i]))
            return true;
    return false;
}

bool isp_profile_lookup(const struct isp_profile *p, const char *name, uint64_t *addr)
{
    for (unsigned i = 0; i < p->nsyms; i++) {
        if (!strcmp(p->syms[i].name, name)) {
            *addr = p->syms[i].addr;
            return true;
        }
    }
    return false;
}

void isp_profile_add(struct isp_profile *p, const char *name, uint64_t addr)
{
    uint64_t old;

    if (p->nsyms == ISP_PROFILE_SYMS || strlen(name) >= ISP_SYM_NAME_MAX ||
        isp_profile_lookup(p, name, &old))
        return;
    snprintf(p->syms[p->nsyms].name, ISP_SYM_NAME_MAX, "%s", name);
    p->syms[p->nsyms++].addr = addr;
}

bool isp_profile_field(const struct isp_profile *p, const char *name, uint32_t *off)
{
    for (unsigned i = 0; i < p->nfields; i++) {
        if (!strcmp(p->fields[i].name, name)) {
            *off = p->fields[i].off;
            return true;
        }
    }
    return false;
}

void isp_profile_field_add(struct isp_profile *p, const char *name, uint32_t off)
{
    uint32_t old;

    if (p->nfields == ISP_PROFILE_FIELDS || strlen(name) >= ISP_FIELD_NAME_MAX ||
        isp_profile_field(p, name, &old))
        return;
    snprintf(p->fields[p->nfields].name, ISP_FIELD_NAME_MAX, "%s", name);
    p->fields[p->nfields++].off = off;
}

int isp_profile_btf(struct isp_profile *p, const uint8_t *data, size_t len, char *err,
                    size_t errlen)
{
    struct isp_btf *b;
    int ret = isp_btf_open(data, len, &b), missing = 0;

    if (ret)
        return js_fail(err, errlen, "BTF", "%s", ret == -ENOMEM ? strerror(ENOMEM) :
                       "not a valid BTF blob");
    for (unsigned i = 0; isp_profile_fields[i]; i++) {
        char strct[ISP_FIELD_NAME_MAX];
        const char *dot = strchr(isp_profile_fields[i], '.');
        uint32_t off;

        snprintf(strct, sizeof(strct), "%.*s", (int)(dot - isp_profile_fields[i]),
                 isp_profile_fields[i]);
        if (isp_btf_member_offset(b, strct, dot + 1, &off)) {
            if (!field_optional(isp_profile_fields[i]) && !missing++)
                js_fail(err, errlen, "BTF", "no member %s", isp_profile_fields[i]);
            continue;
        }
        isp_profile_field_add(p, isp_profile_fields[i], off);
    }
    isp_btf_free(b);
    return missing ? -ENOENT : 0;
}

static int profile_offsets_load(const char *path, const cJSON *offs, struct isp_profile *p,
                                char *err, size_t errlen)
{
    const cJSON *v;

    if (!offs)
        return 0;
    if (!cJSON_IsObject(offs))
        return js_fail(err, errlen, path, "offsets: expected an object");
    cJSON_ArrayForEach(v, offs) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e6 ||
            v->valuedouble != (double)(uint32_t)v->valuedouble)
            return js_fail(err, errlen, path, "offsets.%.40s: expected an integer 0..1000000",
                           v->string);
        isp_profile_field_add(p, v->string, (uint32_t)v->valuedouble);
    }
    return 0;
}

int isp_profile_load(const char *path, struct isp_profile *p, char *err, size_t errlen)
{
    char *text = NULL;
    cJSON *root;
    const cJSON *syms, *v, *ver;
    int ret = js_file_read(path, &text, 1 << 20);

    memset(p, 0, sizeof(*p));
    if (ret)
        return js_fail(err, errlen, path, "cannot read profile: %s", strerror(-ret));
    root = cJSON_Parse(text);
    free(text);
    if (!root)
        return js_fail(err, errlen, path, "profile is not valid JSON");
    ret = 0;
    ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (cJSON_IsString(ver))
        snprintf(p->version, sizeof(p->version), "%s", ver->valuestring);
    syms = cJSON_GetObjectItemCaseSensitive(root, "symbols");
    if (!cJSON_IsObject(syms)) {
        ret = js_fail(err, errlen, path, "profile lacks a \"symbols\" object");
        syms = NULL;
    }
    cJSON_ArrayForEach(v, syms) {
        uint64_t addr;

        if (!cJSON_IsString(v) || js_u64_parse(v->valuestring, &addr)) {
            ret = js_fail(err, errlen, path, "symbols.%.40s: expected an address string",
                          v->string);
            break;
        }
        isp_profile_add(p, v->string, addr);
    }
    if (!ret)
        ret = profile_offsets_load(path, cJSON_GetObjectItemCaseSensitive(root, "offsets"), p,
                                   err, errlen);
    cJSON_Delete(root);
    return ret;
}

/* ---- building ----------------------------------------------------------- */

struct blob {
    const uint8_t *data;
    size_t len;
};

static const void *blob_at(const struct blob *b, uint64_t off, uint64_t len)
{
    return off <= b->len && len <= b->len - off ? b->data + off : NULL;
}

/* Section headers: the .text bounds, and member offsets from .BTF (a
 * vmlinux keeps its BTF there). */
static void elf_sections(const struct blob *b, const Elf64_Ehdr *eh, const Elf64_Shdr *sh,
                         struct isp_profile *p)
{
    const Elf64_Shdr *shstr = eh->e_shstrndx < eh->e_shnum ? &sh[eh->e_shstrndx] : NULL;

    for (unsigned i = 0; shstr && i < eh->e_shnum; i++) {
        const char *name = blob_at(b, shstr->sh_offset + sh[i].sh_name, 6);
        const uint8_t *btf;
        char err[128];

        if (!name || sh[i].sh_name >= shstr->sh_size)
            continue;
        if (!memcmp(name, ".text", 6)) {
            isp_profile_add(p, ISP_SYM_STEXT, sh[i].sh_addr);
            isp_profile_add(p, ISP_SYM_ETEXT, sh[i].sh_addr + sh[i].sh_size);
        } else if (!memcmp(name, ".BTF", 5) && sh[i].sh_type != SHT_NOBITS &&
                   (btf = blob_at(b, sh[i].sh_offset, sh[i].sh_size)) &&
                   isp_profile_btf(p, btf, sh[i].sh_size, err, sizeof(err))) {
            fprintf(stderr, "kvmm profile: %s: records will lack what needs it\n", err);
        }
    }
}

static int elf_symbols(const struct blob *b, struct isp_profile *p)
{
    const Elf64_Ehdr *eh = blob_at(b, 0, sizeof(*eh));
    const Elf64_Shdr *sh;

    if (!eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shentsize != sizeof(Elf64_Shdr))
        return -ENOEXEC;
    sh = blob_at(b, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(*sh));
    if (!sh)
        return -ENOEXEC;
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        const Elf64_Shdr *st = &sh[i], *str;
        const Elf64_Sym *sym;
        const char *names;

        if (st->sh_type != SHT_SYMTAB || st->sh_link >= eh->e_shnum)
            continue;
        str = &sh[st->sh_link];
        sym = blob_at(b, st->sh_offset, st->sh_size);
        names = blob_at(b, str->sh_offset, str->sh_size);
        if (!sym || !names || !str->sh_size || names[str->sh_size - 1])
            return -ENOEXEC;
        for (uint64_t k = 0; k < st->sh_size / sizeof(*sym); k++)
            if (sym[k].st_name < str->sh_size && wanted(names + sym[k].st_name))
                isp_profile_add(p, names + sym[k].st_name, sym[k].st_value);
    }
    elf_sections(b, eh, sh, p);
    return p->nsyms ? 0 : -ENOENT;
}

static int system_map_read(const char *path, struct isp_profile *p)
{
    FILE *f = fopen(path, "re");
    char line[512];

    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        char name[256], type;
        unsigned long long addr;

        if (sscanf(line, "%llx %c %255s", &addr, &type, name) == 3 && wanted(name))
            isp_profile_add(p, name, addr);
    }
    fclose(f);
    return p->nsyms ? 0 : -ENOENT;
}

/* The first word of a bzImage's version string (setup header kernel_version). */
static int bzimage_version(const struct blob *b, char *out, size_t len)
{
    const uint8_t *hdr = blob_at(b, 0x202, 4), *ptr = blob_at(b, 0x20e, 2);
    const char *s;
    size_t n = 0;

    if (!hdr || memcmp(hdr, "HdrS", 4) || !ptr)
        return -ENOEXEC;
    s = blob_at(b, 0x200 + (uint64_t)(ptr[0] | ptr[1] << 8), 1);
    if (!s)
        return -ENOEXEC;
    while (n + 1 < len && (const uint8_t *)s + n < b->data + b->len && s[n] > ' ' &&
           s[n] < 0x7f) {
        out[n] = s[n];
        n++;
    }
    out[n] = '\0';
    return n ? 0 : -ENOEXEC;
}

int isp_profile_kernel_release(const char *kernel, char *out, size_t len)
{
    uint8_t hdr[0x210];
    char ver[128];
    FILE *f = fopen(kernel, "re");
    size_t n = 0;
    int ret = -ENOEXEC;

    if (!f)
        return -errno;
    /* setup header: "HdrS" at 0x202, kernel_version at 0x20e (from 0x200) */
    if (fread(hdr, 1, sizeof(hdr), f) == sizeof(hdr) && !memcmp(hdr + 0x202, "HdrS", 4) &&
        !fseek(f, 0x200L + (hdr[0x20e] | hdr[0x20f] << 8), SEEK_SET)) {
        n = fread(ver, 1, sizeof(ver) - 1, f);
        ver[n] = '\0';
        n = strcspn(ver, " \t\n");
        ret = n && n < len ? 0 : -ENOEXEC;
    }
    fclose(f);
    if (!ret)
        snprintf(out, len, "%.*s", (int)n, ver);
    return ret;
}

static char *profile_json(const char *kernel, const char *source, const struct isp_profile *p)
{
    cJSON *root = cJSON_CreateObject(), *syms;
    char *text = NULL;

    if (!root)
        return NULL;
    cJSON_AddStringToObject(root, "kernel", kernel);
    cJSON_AddStringToObject(root, "version", p->version);
    cJSON_AddStringToObject(root, "source", source);
    syms = cJSON_AddObjectToObject(root, "symbols");
    for (unsigned i = 0; syms && i < p->nsyms; i++) {
        char hex[24];

        snprintf(hex, sizeof(hex), "0x%llx", (unsigned long long)p->syms[i].addr);
        cJSON_AddStringToObject(syms, p->syms[i].name, hex);
    }
    if (p->nfields) {
        cJSON *offs = cJSON_AddObjectToObject(root, "offsets");

        for (unsigned i = 0; offs && i < p->nfields; i++)
            cJSON_AddNumberToObject(offs, p->fields[i].name, p->fields[i].off);
    }
    if (syms)
        text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

static int profile_from_blob(const char *kernel, const struct blob *b, const char *system_map,
                             char **json, char *err, size_t errlen)
{
    struct isp_profile p = { 0 };
    char map[320];
    int ret;

    if (!system_map && elf_symbols(b, &p) == 0) {
        *json = profile_json(kernel, "ELF symbol table", &p);
        return *json ? 0 : -ENOMEM;
    }
    if (bzimage_version(b, p.version, sizeof(p.version)) == 0 && !system_map) {
        snprintf(map, sizeof(map), "/boot/System.map-%s", p.version);
        system_map = map;
    }
    if (!system_map)
        return js_fail(err, errlen, kernel,
                       "neither an ELF with symbols nor a bzImage (give --system-map)");
    ret = system_map_read(system_map, &p);
    /* Debian ships a one-line placeholder; the real map is in -dbg. */
    if (ret == -ENOENT) {
        js_fail(err, errlen, system_map, "none of the profile's symbols found "
                "(Debian's is a placeholder: the real one, and a vmlinux with "
                "symbols, are in linux-image-%s-dbg)", p.version[0] ? p.version : "VERSION");
        return -ENOENT;
    }
    if (ret)
        return js_fail(err, errlen, system_map, "%s", strerror(-ret));
    *json = profile_json(kernel, system_map, &p);
    return *json ? 0 : -ENOMEM;
}

int isp_profile_build(const char *kernel, const char *system_map, char **json, char *err,
                      size_t errlen)
{
    int fd = open(kernel, O_RDONLY | O_CLOEXEC);
    struct stat st;
    struct blob b;
    void *map;
    int ret;

    if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size == 0) {
        ret = fd < 0 ? -errno : -EINVAL;
        if (fd >= 0)
            close(fd);
        return js_fail(err, errlen, kernel, "cannot read kernel: %s", strerror(-ret));
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return js_fail(err, errlen, kernel, "cannot map kernel: %s", strerror(errno));
    b = (struct blob){ map, (size_t)st.st_size };
    ret = profile_from_blob(kernel, &b, system_map, json, err, errlen);
    munmap(map, (size_t)st.st_size);
    return ret;
}

static const char profile_usage[] =
    "Usage: kvmm profile --kernel PATH [--system-map FILE] [--boot] [--timeout SECS]\n"
    "                    [-o OUT]\n"
    "\n"
    "Write the kernel profile introspection needs (symbol addresses, and\n"
    "structure member offsets from the kernel's BTF) as JSON to OUT or stdout.\n"
    "PATH is an ELF with a symbol table (vmlinux, a firmware payload) or a\n"
    "bzImage, whose /boot/System.map-VERSION is used unless --system-map names\n"
    "one.  A bzImage without a usable map (Debian's is a placeholder) is\n"
    "booted once under kvmm with nokaslr and a generated busybox initramfs\n"
    "that prints /proc/kallsyms and copies /sys/kernel/btf/vmlinux to a\n"
    "scratch disk (--boot: always do that); this needs a host whose /dev/kvm\n"
    "runs Linux.  --timeout bounds the boot (default 300 s).\n";

struct profile_args {
    const char *kernel, *map, *out;
    bool boot;
    unsigned timeout;
};

/* 0, 1 (help printed), 2 (usage error printed). */
static int profile_args_parse(int argc, char **argv, struct profile_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char **slot = !strcmp(argv[i], "--kernel") ? &a->kernel :
                            !strcmp(argv[i], "--system-map") ? &a->map :
                            !strcmp(argv[i], "-o") ? &a->out : NULL;
        char *end;

        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(profile_usage, stdout);
            return 1;
        }
        if (!strcmp(argv[i], "--boot")) {
            a->boot = true;
            continue;
        }
        if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
            a->timeout = (unsigned)strtoul(argv[++i], &end, 10);
            if (*end || !a->timeout || a->timeout > 86400) {
                fprintf(stderr, "kvmm profile: --timeout: expected 1..86400 seconds\n");
                return 2;
            }
            continue;
        }
        if (!slot || i + 1 == argc) {
            fprintf(stderr, "kvmm profile: bad argument '%s'\n%s", argv[i], profile_usage);
            return 2;
        }
        *slot = argv[++i];
    }
    if (!a->kernel) {
        fprintf(stderr, "kvmm profile: --kernel is required\n%s", profile_usage);
        return 2;
    }
    return 0;
}

static int profile_by_boot(const struct profile_args *a, char **json, char *err, size_t errlen)
{
    struct isp_profile p = { 0 };
    int ret = isp_profile_boot(a->kernel, a->timeout, &p, err, errlen);

    if (ret)
        return ret;
    *json = profile_json(a->kernel, "/proc/kallsyms of a boot with nokaslr", &p);
    return *json ? 0 : -ENOMEM;
}

int isp_profile_main(int argc, char **argv)
{
    struct profile_args a = { .timeout = 300 };
    char err[1024], *json = NULL;
    int ret = profile_args_parse(argc, argv, &a);
    FILE *f;

    if (ret)
        return ret == 1 ? 0 : 2;
    ret = a.boot ? -ENOENT : isp_profile_build(a.kernel, a.map, &json, err, sizeof(err));
    if (ret == -ENOENT && !a.map) {
        if (!a.boot)
            fprintf(stderr, "kvmm profile: %s\nkvmm profile: booting the kernel once to read "
                    "/proc/kallsyms instead\n", err);
        ret = profile_by_boot(&a, &json, err, sizeof(err));
    }
    if (ret) {
        fprintf(stderr, "kvmm profile: %s\n", err);
        return 1;
    }
    f = a.out ? fopen(a.out, "we") : stdout;
    if (!f || fprintf(f, "%s\n", json) < 0 || (a.out && fclose(f))) {
        fprintf(stderr, "kvmm profile: cannot write %s: %s\n", a.out ? a.out : "stdout",
                strerror(errno));
        free(json);
        return 1;
    }
    free(json);
    return 0;
}
