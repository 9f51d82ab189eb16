/* Device tree for payloads: build it, read it back with libfdt. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot/fdt.h"
#include "boot/layout.h"
#include "mem/guest_mem.h"
#include "spec.h"

#define BUF_SIZE 4096

static uint8_t ram[64 * 1024];
static uint8_t buf[BUF_SIZE];

static void config_init(struct fdt_config *cfg, struct guest_mem *mem)
{
    guest_mem_init_fake(mem, ram, sizeof(ram));
    memset(cfg, 0, sizeof(*cfg));
    cfg->ncpus = 1;
    cfg->mem = mem;
}

static const void *prop(const char *path, const char *name, int *len)
{
    int node = fdt_path_offset(buf, path);
    const void *val;

    assert_true(node >= 0);
    val = fdt_getprop(buf, node, name, len);
    assert_non_null(val);
    return val;
}

static void assert_str_prop(const char *path, const char *name, const char *want)
{
    int len;
    const char *val = prop(path, name, &len);

    assert_int_equal(len, strlen(want) + 1);
    assert_string_equal(val, want);
}

static void assert_u32_prop(const char *path, const char *name, uint32_t want)
{
    int len;
    const fdt32_t *val = prop(path, name, &len);

    assert_int_equal(len, 4);
    assert_int_equal(fdt32_to_cpu(*val), want);
}

static void assert_no_prop(const char *path, const char *name)
{
    int node = fdt_path_offset(buf, path);

    assert_true(node >= 0);
    assert_null(fdt_getprop(buf, node, name, NULL));
}

static int count_subnodes(const char *path)
{
    int node = fdt_path_offset(buf, path), child, n = 0;

    assert_true(node >= 0);
    fdt_for_each_subnode(child, buf, node)
        n++;
    return n;
}

static void test_root_and_chosen(void **state)
{
    struct fdt_config cfg;
    struct guest_mem mem;

    config_init(&cfg, &mem);
    cfg.cmdline = "console=ttyS0 quiet";
    assert_int_equal(fdt_build(buf, sizeof(buf), &cfg), 0);
    assert_int_equal(fdt_check_header(buf), 0);
    assert_true(fdt_totalsize(buf) <= sizeof(buf));
    assert_str_prop("/", "compatible", "kvmm,virt");
    assert_u32_prop("/", "#address-cells", 2);
    assert_u32_prop("/", "#size-cells", 2);
    assert_str_prop("/chosen", "bootargs", "console=ttyS0 quiet");
    assert_str_prop("/chosen", "stdout-path", "/kvmm/serial@3f8");
    assert_int_equal(count_subnodes("/"), 5); /* chosen memory cpus pci kvmm */
}

static void test_no_cmdline(void **state)
{
    struct fdt_config cfg;
    struct guest_mem mem;

    config_init(&cfg, &mem);
    assert_int_equal(fdt_build(buf, sizeof(buf), &cfg), 0);
    assert_no_prop("/chosen", "bootargs");
    cfg.cmdline = "";
    assert_int_equal(fdt_build(buf, sizeof(buf), &cfg), 0);
    assert_no_prop("/chosen", "bootargs");
}

static void test_memory_one_region(void **state)
{
    struct fdt_config cfg;
    struct guest_mem mem;
    const fdt64_t *reg;
    int len;

    config_init(&cfg, &mem);
    assert_int_equal(fdt_build(buf, sizeof(buf), &cfg), 0);
    assert_str_prop("/memory@0", "device_type", "memory");
    reg = prop("/memory@0", "reg", &len);
    assert_int_equal(len, 16);
    assert_int_equal(fdt64_to_cpu(reg[0]), 0);
    assert_int_equal(fdt64_to_cpu(reg[1]), sizeof(ram));
}

/* RAM split around the PCI hole gives two reg pairs. */
static void test_memory_two_regions(void **state)
{
    struct fdt_config cfg;
    struct guest_mem mem;
    const fdt64_t *reg;
    int len;

    config_init(&cfg, &mem);
    mem.regions[0] = (struct guest_region){ 0, LAYOUT_PCI_HOLE, ram };
    mem.regions[1] = (struct guest_region){ LAYOUT_HIGH_RAM, 1 * GiB, ram };
    mem.nregions = 2;
    assert_int_equal(fdt_build(buf, sizeof(buf), &cfg), 0);
    reg = prop("/memory@0", "reg", &len);
    assert_int_equal(len, 32);
    assert_int_equal(fdt64_to_cpu(reg[0]), 0);
    assert_int_equal(fdt64_to_cpu(reg[1]), LAYOUT_PCI_HOLE);
    assert_int_equal(fdt64_to_cpu(reg[2]), LAYOUT_HIGH_RAM);
    assert_int_equal(fdt64_to_cpu(reg[3]), 1 * GiB);
}

static void check_cpus(unsigned ncpus)
{
    struct fdt_config cfg;
    struct guest_mem mem;

    config_init(&cfg, &mem);
    cfg.ncpus = ncpus;
    assert_int_equal(fdt_build(buf, sizeof(buf), &cfg), 0);
    assert_u32_prop("/cpus", "#address-cells", 1);
    assert_u32_prop("/cpus", "#size-cells", 0);
    assert_int_equal(count_subnodes("/cpus"), ncpus);
    for (unsigned i = 0; i < ncpus; i++) {
        char path[32];

        snprintf(path, sizeof(path), "/cpus/cpu@%x", i);
        assert_str_prop(path, "device_type", "cpu");
        assert_u32_prop(path, "reg", i);
    }
}

static void test_cpus_one(void **state)
{
    check_cpus(1);
}

static void test_cpus_two(void **state)
{
    check_cpus(2);
}

static void test_kvmm_devices(void **state)
{
    struct fdt_config cfg;
    struct guest_mem mem;
    const fdt32_t *reg;
    int len;

    config_init(&cfg, &mem);
    assert_int_equal(fdt_build(buf, sizeof(buf), &cfg), 0);
    assert_u32_prop("/kvmm", "#address-cells", 1);
    assert_u32_prop("/kvmm", "#size-cells", 1);
    assert_str_prop("/kvmm/testdev@440", "compatible", "kvmm,testdev");
    assert_u32_prop("/kvmm/testdev@440", "port", PORT_TESTDEV);
    reg = prop("/kvmm/testdev@440", "reg", &len);
    assert_int_equal(len, 8);
    assert_int_equal(fdt32_to_cpu(reg[0]), PORT_TESTDEV);
    assert_int_equal(fdt32_to_cpu(reg[1]), 8);
    assert_str_prop("/kvmm/serial@3f8", "compatible", "ns16550a");
    assert_u32_prop("/kvmm/serial@3f8", "port", PORT_COM1);
    assert_u32_prop("/kvmm/serial@3f8", "interrupts", IRQ_COM1);
    /* Without a unit address, libfdt matches the node by its base name. */
    assert_true(fdt_path_offset(buf, "/kvmm/testdev") >= 0);
    assert_int_equal(count_subnodes("/kvmm/params"), 0);
    assert_int_equal(fdt_first_property_offset(buf, fdt_path_offset(buf, "/kvmm/params")),
                     -FDT_ERR_NOTFOUND);
}

/* Payloads find PCI configuration space through the host bridge node. */
static void test_pci_host(void **state)
{
    struct fdt_config cfg;
    struct guest_mem mem;
    const fdt32_t *p;
    int len;

    config_init(&cfg, &mem);
    assert_int_equal(fdt_build(buf, sizeof(buf), &cfg), 0);
    assert_str_prop("/pci@e0000000", "compatible", "pci-host-ecam-generic");
    assert_str_prop("/pci@e0000000", "device_type", "pci");
    p = prop("/pci@e0000000", "reg", &len);
    assert_int_equal(len, 16);
    assert_int_equal(fdt32_to_cpu(p[1]), LAYOUT_ECAM);
    assert_int_equal(fdt32_to_cpu(p[3]), LAYOUT_ECAM_SIZE);
    p = prop("/pci@e0000000", "bus-range", &len);
    assert_int_equal(len, 8);
    assert_int_equal(fdt32_to_cpu(p[0]), 0);
    assert_int_equal(fdt32_to_cpu(p[1]), 0);
    p = prop("/pci@e0000000", "ranges", &len);
    assert_int_equal(len, 28);
    assert_int_equal(fdt32_to_cpu(p[2]), LAYOUT_PCI_MMIO);
    assert_int_equal(fdt32_to_cpu(p[6]), LAYOUT_PCI_MMIO_SIZE);
}

static void test_params(void **state)
{
    struct spec_param params[] = {
        { "expect_mem_mib", "64" },
        { "expect_cpus", "2" },
        { "empty", "" },
    };
    struct fdt_config cfg;
    struct guest_mem mem;
    int node, off, n = 0;

    config_init(&cfg, &mem);
    cfg.params = params;
    cfg.nparams = ARRAY_SIZE(params);
    assert_int_equal(fdt_build(buf, sizeof(buf), &cfg), 0);
    assert_str_prop("/kvmm/params", "expect_mem_mib", "64");
    assert_str_prop("/kvmm/params", "expect_cpus", "2");
    assert_str_prop("/kvmm/params", "empty", "");
    node = fdt_path_offset(buf, "/kvmm/params");
    fdt_for_each_property_offset(off, buf, node)
        n++;
    assert_int_equal(n, 3);
}

static void test_bad_params(void **state)
{
    struct spec_param dup[] = { { "a", "1" }, { "a", "2" } };
    struct spec_param space[] = { { "a b", "1" } };
    struct spec_param empty[] = { { "", "1" } };
    struct spec_param longkey[] = { { "k234567890123456789012345678901x", "1" } };
    struct spec_param nullval[] = { { "a", NULL } };
    struct spec_param ok31[] = { { "k234567890123456789012345678901", "1" } };
    struct fdt_config cfg;
    struct guest_mem mem;

    config_init(&cfg, &mem);
#define TRY(arr, want)                                              \
    do {                                                            \
        cfg.params = (arr);                                         \
        cfg.nparams = ARRAY_SIZE(arr);                              \
        assert_int_equal(fdt_build(buf, sizeof(buf), &cfg), (want)); \
    } while (0)
    TRY(dup, -EINVAL);
    TRY(space, -EINVAL);
    TRY(empty, -EINVAL);
    TRY(longkey, -EINVAL);
    TRY(nullval, -EINVAL);
    TRY(ok31, 0);
#undef TRY
}

static void test_bad_config(void **state)
{
    struct fdt_config cfg;
    struct guest_mem mem;

    config_init(&cfg, &mem);
    cfg.ncpus = 0;
    assert_int_equal(fdt_build(buf, sizeof(buf), &cfg), -EINVAL);
    config_init(&cfg, &mem);
    mem.nregions = 0;
    assert_int_equal(fdt_build(buf, sizeof(buf), &cfg), -EINVAL);
    config_init(&cfg, &mem);
    cfg.mem = NULL;
    assert_int_equal(fdt_build(buf, sizeof(buf), &cfg), -EINVAL);
}

/* Every size short of the finished tree fails cleanly with -ENOSPC. */
static void test_too_small(void **state)
{
    struct fdt_config cfg;
    struct guest_mem mem;
    size_t need;

    config_init(&cfg, &mem);
    cfg.cmdline = "console=ttyS0";
    assert_int_equal(fdt_build(buf, sizeof(buf), &cfg), 0);
    need = fdt_totalsize(buf);
    for (size_t len = 0; len < need; len++) {
        uint8_t *small = malloc(len ? len : 1);

        assert_non_null(small);
        assert_int_equal(fdt_build(small, len, &cfg), -ENOSPC);
        free(small);
    }
    assert_int_equal(fdt_build(buf, need, &cfg), 0);
}

/* The largest tree the spec allows (255 vCPUs, every RAM region, the
 * longest command line, as many params as allowed with the most padding)
 * fits the room the loader gives it. */
static void test_spec_limits_fit(void **state)
{
    static struct spec_param params[SPEC_PARAMS_MAX];
    static char keys[SPEC_PARAMS_MAX][16];
    size_t vlen = SPEC_PARAMS_TEXT_MAX / SPEC_PARAMS_MAX - 4;  /* key "pNNN" */
    char *cmdline = malloc(SPEC_CMDLINE_MAX + 1), *value = malloc(vlen + 1);
    uint8_t *tree = malloc(LAYOUT_FDT_MAX);
    struct fdt_config cfg;
    struct guest_mem mem;

    assert_non_null(cmdline);
    assert_non_null(value);
    assert_non_null(tree);
    assert_int_equal(vlen % 4, 0);      /* a value and its NUL take 3 bytes of padding */
    memset(cmdline, 'c', SPEC_CMDLINE_MAX);
    cmdline[SPEC_CMDLINE_MAX] = '\0';
    memset(value, 'v', vlen);
    value[vlen] = '\0';
    for (int i = 0; i < SPEC_PARAMS_MAX; i++) {
        snprintf(keys[i], sizeof(keys[i]), "p%03d", i);
        params[i] = (struct spec_param){ keys[i], value };
    }
    config_init(&cfg, &mem);
    for (unsigned i = 0; i < GUEST_MEM_MAX_REGIONS; i++)
        mem.regions[i] = (struct guest_region){ i * 4 * GiB, 1 * GiB, ram };
    mem.nregions = GUEST_MEM_MAX_REGIONS;
    cfg.ncpus = 255;
    cfg.cmdline = cmdline;
    cfg.params = params;
    cfg.nparams = SPEC_PARAMS_MAX;
    assert_int_equal(fdt_build(tree, LAYOUT_FDT_MAX, &cfg), 0);
    assert_true(fdt_totalsize(tree) <= LAYOUT_FDT_MAX);
    free(tree);
    free(value);
    free(cmdline);
}

static void test_write_file(void **state)
{
    char path[] = "/tmp/kvmm-test-fdt-XXXXXX";
    uint8_t back[BUF_SIZE];
    struct fdt_config cfg;
    struct guest_mem mem;
    int fd;
    ssize_t n;

    config_init(&cfg, &mem);
    assert_int_equal(fdt_build(buf, sizeof(buf), &cfg), 0);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(fdt_write_file(buf, path), 0);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    n = read(fd, back, sizeof(back));
    close(fd);
    unlink(path);
    assert_int_equal(n, fdt_totalsize(buf));
    assert_memory_equal(back, buf, (size_t)n);
    assert_int_equal(fdt_write_file(buf, "/nonexistent-dir/x.dtb"), -ENOENT);
    memset(back, 0, sizeof(back));
    assert_int_equal(fdt_write_file(back, "/tmp/never-written.dtb"), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_and_chosen),
        cmocka_unit_test(test_no_cmdline),
        cmocka_unit_test(test_memory_one_region),
        cmocka_unit_test(test_memory_two_regions),
        cmocka_unit_test(test_cpus_one),
        cmocka_unit_test(test_cpus_two),
        cmocka_unit_test(test_kvmm_devices),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_pci_host),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_too_small),
        cmocka_unit_test(test_spec_limits_fit),
        cmocka_unit_test(test_write_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
