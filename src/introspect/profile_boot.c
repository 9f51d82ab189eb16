/* A kernel profile for a kernel without a symbol table or System.map
 * (Debian's stock kernels): boot it once under kvmm with `nokaslr` and a
 * tiny initramfs whose /init prints the wanted lines of /proc/kallsyms on
 * the serial console.  Without KASLR the addresses are the link-time ones
 * a profile holds.  The kernel's BTF (/sys/kernel/btf/vmlinux, megabytes:
 * too much for the serial console) goes to a scratch virtio disk, with
 * the virtio modules of /lib/modules/RELEASE in the initramfs when the
 * kernel builds them as modules; member offsets are read from it. */
#include "introspect/profile_boot.h"

#include <elf.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "introspect/btf.h"
#include "introspect/jsonutil.h"
#include "introspect/profile.h"
#include "kvm.h"

#define BUSYBOX "/bin/busybox"
#define MARK_BEGIN "KVMM-PROFILE-BEGIN"
#define MARK_END "KVMM-PROFILE-END"
#define MARK_RELEASE "KVMM-PROFILE-RELEASE="
#define MARK_BTF "KVMM-PROFILE-BTF-WRITTEN"
#define BTF_DISK_SIZE (32 << 20)

/* What the scratch disk needs, dependencies first. */
static const char *const disk_modules[] = {
    "virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
    "virtio_blk", NULL,
};

/* Runs as PID 1; a grep pattern of the wanted names is appended. */
static const char init_head[] =
    "#!/bin/busybox sh\n"
    "export PATH=/bin\n"
    "/bin/busybox mount -t proc proc /proc\n"
    "/bin/busybox mount -t sysfs sysfs /sys\n"
    /* real addresses for root only with kptr_restrict 0 */
    "echo 0 >/proc/sys/kernel/kptr_restrict\n"
    "echo " MARK_RELEASE "$(/bin/busybox uname -r)\n"
    "echo " MARK_BEGIN "\n";
static const char init_tail[] =
    "echo " MARK_END "\n"
    /* the BTF to the scratch disk: modules present are loaded, the rest
     * is built in */
    "for m in /m/*.ko; do [ -f \"$m\" ] && /bin/busybox insmod \"$m\"; done\n"
    "/bin/busybox mount -t devtmpfs devtmpfs /dev\n"
    "i=0\n"
    "while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do /bin/busybox sleep 0.1; i=$((i + 1)); done\n"
    "/bin/busybox dd if=/sys/kernel/btf/vmlinux of=/dev/vda bs=65536 conv=fsync 2>/dev/null &&\n"
    "    echo " MARK_BTF "\n"
    "/bin/busybox poweroff -f\n";

/* ---- a newc cpio archive ------------------------------------------------ */

static int cpio_entry(FILE *f, const char *name, unsigned mode, unsigned rmaj, unsigned rmin,
                      const void *data, size_t len)
{
    static unsigned ino = 1;
    size_t nlen = strlen(name) + 1;
    static const char zeros[4];

    if (fprintf(f, "070701%08X%08X%08X%08X%08X%08X%08zX%08X%08X%08X%08X%08zX%08X", ino++, mode,
                0, 0, (mode & S_IFMT) == S_IFDIR ? 2u : 1u, 0, len, 0, 0, rmaj, rmin, nlen, 0) < 0 ||
        fwrite(name, 1, nlen, f) != nlen ||
        fwrite(zeros, 1, (4 - (110 + nlen) % 4) % 4, f) != (4 - (110 + nlen) % 4) % 4 ||
        (len && fwrite(data, 1, len, f) != len) ||
        fwrite(zeros, 1, (4 - len % 4) % 4, f) != (4 - len % 4) % 4)
        return -EIO;
    return 0;
}

/* true when the ELF at data has no program interpreter (static). */
static bool elf_static(const uint8_t *data, size_t len)
{
    const Elf64_Ehdr *eh = (const void *)data;

    if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
        eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_phentsize != sizeof(Elf64_Phdr) ||
        eh->e_phoff > len || (size_t)eh->e_phnum * sizeof(Elf64_Phdr) > len - eh->e_phoff)
        return false;
    for (unsigned i = 0; i < eh->e_phnum; i++)
        if (((const Elf64_Phdr *)(data + eh->e_phoff))[i].p_type == PT_INTERP)
            return false;
    return true;
}

static char *init_script(void)
{
    size_t len = sizeof(init_head) + sizeof(init_tail) + 256;
    char *s;

    for (unsigned i = 0; isp_profile_wanted[i]; i++)
        len += strlen(isp_profile_wanted[i]) + 1;
    s = malloc(len);
    if (!s)
        return NULL;
    strcpy(s, init_head);
    strcat(s, "/bin/busybox grep -E ' (");
    for (unsigned i = 0; isp_profile_wanted[i]; i++) {
        strcat(s, i ? "|" : "");
        strcat(s, isp_profile_wanted[i]);
    }
    strcat(s, ")$' /proc/kallsyms\n");
    strcat(s, init_tail);
    return s;
}

/* The whole of a regular file: 0 or -errno; *data malloced. */
static int file_read(const char *path, uint8_t **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    ssize_t n;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > (64 << 20)) {
        close(fd);
        return -EINVAL;
    }
    *data = malloc((size_t)st.st_size + 1);
    n = *data ? read(fd, *data, (size_t)st.st_size) : -1;
    close(fd);
    if (n != st.st_size) {
        free(*data);
        return -EIO;
    }
    *len = (size_t)n;
    return 0;
}

/* Path under /lib/modules/release of module name (uncompressed: busybox
 * insmod reads ELF), from modules.dep; 0 or -ENOENT. */
static int module_find(const char *release, const char *name, char *out, size_t len)
{
    char dep[300], line[1024], want[64];
    FILE *f;
    int ret = -ENOENT;

    snprintf(dep, sizeof(dep), "/lib/modules/%s/modules.dep", release);
    snprintf(want, sizeof(want), "/%s.ko:", name);
    f = fopen(dep, "re");
    if (!f)
        return -ENOENT;
    while (ret && fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');

        if (colon && (size_t)(colon + 1 - line) >= strlen(want) &&
            !memcmp(colon + 1 - strlen(want), want, strlen(want))) {
            *colon = '\0';
            snprintf(out, len, "/lib/modules/%.120s/%.300s", release, line);
            ret = 0;
        }
    }
    fclose(f);
    return ret;
}

/* The scratch disk's modules as m/N-NAME.ko (N: load order). */
static int cpio_modules(FILE *f, const char *release)
{
    char path[512], name[96];

    for (unsigned i = 0; release && disk_modules[i]; i++) {
        uint8_t *data = NULL;
        size_t len = 0;
        int ret;

        if (module_find(release, disk_modules[i], path, sizeof(path)) ||
            file_read(path, &data, &len))
            continue;       /* built in, or not to be had: the boot tells */
        snprintf(name, sizeof(name), "m/%u-%s.ko", i, disk_modules[i]);
        ret = cpio_entry(f, name, S_IFREG | 0644, 0, 0, data, len);
        free(data);
        if (ret)
            return ret;
    }
    return 0;
}

static int cpio_write(FILE *f, const uint8_t *busybox, size_t bblen, const char *init,
                      const char *release)
{
    return cpio_entry(f, "bin", S_IFDIR | 0755, 0, 0, NULL, 0) ?:
           cpio_entry(f, "dev", S_IFDIR | 0755, 0, 0, NULL, 0) ?:
           cpio_entry(f, "proc", S_IFDIR | 0755, 0, 0, NULL, 0) ?:
           cpio_entry(f, "sys", S_IFDIR | 0755, 0, 0, NULL, 0) ?:
           cpio_entry(f, "m", S_IFDIR | 0755, 0, 0, NULL, 0) ?:
           cpio_entry(f, "dev/console", S_IFCHR | 0600, 5, 1, NULL, 0) ?:
           cpio_entry(f, "bin/busybox", S_IFREG | 0755, 0, 0, busybox, bblen) ?:
           cpio_entry(f, "init", S_IFREG | 0755, 0, 0, init, strlen(init)) ?:
           cpio_modules(f, release) ?:
           cpio_entry(f, "TRAILER!!!", 0, 0, 0, NULL, 0);
}

static int initramfs_write(const char *path, const char *release, char *err, size_t errlen)
{
    uint8_t *busybox = NULL;
    size_t bblen = 0;
    char *init;
    FILE *f;
    int ret = file_read(BUSYBOX, &busybox, &bblen);

    if (ret)
        return js_fail(err, errlen, BUSYBOX, "cannot read: %s (install busybox-static)",
                       strerror(-ret));
    if (!elf_static(busybox, bblen)) {
        free(busybox);
        return js_fail(err, errlen, BUSYBOX, "not a static executable: the profiling "
                       "initramfs needs busybox-static");
    }
    init = init_script();
    f = fopen(path, "we");
    ret = !init ? -ENOMEM : !f ? -errno : cpio_write(f, busybox, bblen, init, release);
    if (f && fclose(f) && !ret)
        ret = -errno;
    free(init);
    free(busybox);
    if (ret)
        return js_fail(err, errlen, path, "cannot write the initramfs: %s", strerror(-ret));
    return 0;
}

/* ---- the boot ----------------------------------------------------------- */

static int host_check(char *err, size_t errlen)
{
    struct kvm_host host = { .fd = -1 };
    char why[256];
    int ret = kvm_host_open(&host, why, sizeof(why));
    bool ok = !ret && kvm_host_runs_linux(&host);

    if (ret) {
        snprintf(err, errlen, "building this profile boots the kernel, and /dev/kvm is not "
                 "usable here (%s)", why);
        return ret;
    }
    if (!ok)
        snprintf(err, errlen, "building this profile boots the kernel once, and this host's "
                 "/dev/kvm (%s) cannot run a stock Linux kernel: run the command on a host "
                 "with VT-x/AMD-V (here: scripts/testhost.sh -- kvmm profile ...), or give "
                 "--system-map with the real System.map (linux-image-VERSION-dbg)",
                 host.pvm ? "kvm_pvm, a software hypervisor" : "no kvm_intel/kvm_amd");
    kvm_host_close(&host);
    return ok ? 0 : -ENOTSUP;
}

static int run_kvmm(const char *kernel, const char *initrd, const char *console,
                    const char *disk, const char *log, unsigned timeout)
{
    char con[4200];
    time_t end = time(NULL) + timeout;
    int status;
    pid_t pid;

    snprintf(con, sizeof(con), "file:%s", console);
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execl("/proc/self/exe", "kvmm", "run", "--kernel", kernel, "--initrd", initrd,
              "--memory", "256", "--cpus", "1", "--console", con, "--disk", disk, "--cmdline",
              "console=ttyS0 nokaslr quiet loglevel=0 panic=-1", (char *)NULL);
        _exit(127);
    }
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (time(NULL) > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -ETIMEDOUT;
        }
        usleep(100 * 1000);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -EINTR;
}

static int console_parse(const char *path, struct isp_profile *p, bool *btf)
{
    FILE *f = fopen(path, "re");
    char line[512];
    bool in = false, done = false;

    if (!f)
        return -errno;
    *btf = false;
    while (fgets(line, sizeof(line), f)) {
        char name[256], type;
        unsigned long long addr;

        line[strcspn(line, "\r\n")] = '\0';
        if (!strncmp(line, MARK_RELEASE, strlen(MARK_RELEASE)) && !p->version[0])
            snprintf(p->version, sizeof(p->version), "%.*s", (int)sizeof(p->version) - 1,
                     line + strlen(MARK_RELEASE));
        else if (!strcmp(line, MARK_BEGIN))
            in = true;
        else if (!strcmp(line, MARK_END))
            in = false, done = true;
        else if (!strcmp(line, MARK_BTF))
            *btf = true;
        else if (in && sscanf(line, "%llx %c %255s", &addr, &type, name) == 3 && addr)
            isp_profile_add(p, name, addr);
    }
    fclose(f);
    return done ? 0 : -EIO;
}

static void tail_into(const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "re");
    size_t n;

    out[0] = '\0';
    if (!f)
        return;
    if (fseek(f, -(long)(len - 1), SEEK_END))
        rewind(f);
    n = fread(out, 1, len - 1, f);
    out[n] = '\0';
    for (char *c = out; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = '|';
    fclose(f);
}

static int disk_create(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ret = fd < 0 || ftruncate(fd, BTF_DISK_SIZE) ? -errno : 0;

    if (fd >= 0)
        close(fd);
    return ret;
}

/* Member offsets from the BTF the guest wrote to the disk.  Not fatal:
 * without them records lack the task, which the warning says. */
static void btf_read(const char *kernel, const char *disk, struct isp_profile *p)
{
    uint8_t *data = NULL;
    size_t len = 0, size;
    char err[256];

    if (file_read(disk, &data, &len)) {
        fprintf(stderr, "kvmm profile: %s: cannot read the BTF disk\n", kernel);
        return;
    }
    size = isp_btf_size(data, len);
    if (!size || size > len)
        fprintf(stderr, "kvmm profile: %s: no BTF on the disk\n", kernel);
    else if (isp_profile_btf(p, data, size, err, sizeof(err)))
        fprintf(stderr, "kvmm profile: %s: %s: records will lack what needs it\n", kernel,
                err);
    free(data);
}

/* Boot, then read the symbols off the console: 0 or -errno, err set. */
static int profile_boot_run(const char *kernel, const char *dir, unsigned timeout,
                            struct isp_profile *p, char *err, size_t errlen)
{
    char initrd[64], console[64], log[64], disk[64], tail[200], release[128];
    uint64_t entry;
    bool btf = false;
    int ret;

    snprintf(initrd, sizeof(initrd), "%s/initramfs.cpio", dir);
    snprintf(console, sizeof(console), "%s/console", dir);
    snprintf(log, sizeof(log), "%s/kvmm.log", dir);
    snprintf(disk, sizeof(disk), "%s/btf.img", dir);
    ret = initramfs_write(initrd, isp_profile_kernel_release(kernel, release, sizeof(release))
                                  ? NULL : release, err, errlen);
    if (!ret && disk_create(disk))
        ret = js_fail(err, errlen, disk, "cannot create: %s", strerror(errno));
    if (ret)
        goto out_unlink;
    ret = run_kvmm(kernel, initrd, console, disk, log, timeout);
    if (ret > 0) {
        tail_into(log, tail, sizeof(tail));
        ret = js_fail(err, errlen, kernel, "the profiling boot failed (kvmm status %d): %s",
                      ret, tail);
    } else if (ret == -ETIMEDOUT) {
        tail_into(console, tail, sizeof(tail));
        js_fail(err, errlen, kernel, "the profiling boot timed out after %us: %s", timeout,
                tail);
    } else if (ret < 0) {
        js_fail(err, errlen, kernel, "cannot run kvmm: %s", strerror(-ret));
    } else if (console_parse(console, p, &btf)) {
        tail_into(console, tail, sizeof(tail));
        ret = js_fail(err, errlen, kernel, "the profiling boot printed no symbol list: %s",
                      tail);
    } else if (!isp_profile_lookup(p, ISP_SYM_ENTRY, &entry)) {
        ret = js_fail(err, errlen, kernel, "/proc/kallsyms lacks %s", ISP_SYM_ENTRY);
    } else if (btf) {
        btf_read(kernel, disk, p);
    } else {
        fprintf(stderr, "kvmm profile: %s: the boot wrote no BTF (no /sys/kernel/btf/vmlinux, "
                "or no virtio disk): records will lack the task\n", kernel);
    }
out_unlink:
    unlink(disk);
    unlink(initrd);
    unlink(console);
    unlink(log);
    return ret;
}

int isp_profile_boot(const char *kernel, unsigned timeout, struct isp_profile *p, char *err,
                     size_t errlen)
{
    char dir[] = "/tmp/kvmm-profile.XXXXXX";
    int ret = host_check(err, errlen);

    if (ret)
        return ret;
    if (!mkdtemp(dir))
        return js_fail(err, errlen, "/tmp", "cannot make a folder: %s", strerror(errno));
    ret = profile_boot_run(kernel, dir, timeout, p, err, errlen);
    rmdir(dir);
    return ret;
}
