/* The device tree describes the machine kvmm was asked for.
 * Params: expect_mem_mib (RAM in MiB), expect_cpus (cpu@N nodes). */
#include "fw.h"

static void check_devices(void)
{
    uint32_t v;
    int node;

    node = fw_fdt_path("/");
    CHECK(fw_fdt_prop_is(node, "compatible", "kvmm,virt"));
    CHECK(fw_fdt_prop_u32(node, "#address-cells", &v) && v == 2);
    CHECK(fw_fdt_prop_u32(node, "#size-cells", &v) && v == 2);
    CHECK(fw_fdt_path("/chosen") >= 0);

    node = fw_fdt_path("/kvmm/testdev@440");
    CHECK(node >= 0);
    CHECK(fw_fdt_prop_is(node, "compatible", "kvmm,testdev"));
    CHECK(fw_fdt_prop_u32(node, "port", &v) && v == PORT_TESTDEV);
    CHECK(inl(PORT_TESTDEV + TESTDEV_REG_RESULT) == TESTDEV_SIGNATURE);

    node = fw_fdt_path("/kvmm/serial@3f8");
    CHECK(node >= 0);
    CHECK(fw_fdt_prop_is(node, "compatible", "ns16550a"));
    CHECK(fw_fdt_prop_u32(node, "port", &v) && v == PORT_COM1);
    CHECK(fw_fdt_prop_u32(node, "interrupts", &v) && v == IRQ_COM1);
}

static void check_memory(void)
{
    uint64_t want, base, size;

    CHECK(fw_param_u64("expect_mem_mib", &want) == 1);
    CHECK(fw_mem_total() == want * MiB);
    /* The first range is the low RAM the payload runs in. */
    CHECK(fw_mem_range(0, &base, &size));
    CHECK(base == 0 && size > LAYOUT_KERNEL);
}

static void check_cpus(void)
{
    uint64_t want;
    uint32_t reg;
    int cpus = fw_fdt_path("/cpus"), n = 0;

    CHECK(fw_param_u64("expect_cpus", &want) == 1);
    CHECK(cpus >= 0);
    CHECK((uint64_t)fw_fdt_count_children(cpus, "cpu") == want);
    for (int c = fw_fdt_first_child(cpus); c >= 0; c = fw_fdt_next_sibling(c)) {
        CHECK(fw_fdt_prop_is(c, "device_type", "cpu"));
        CHECK(fw_fdt_prop_u32(c, "reg", &reg) && reg == (uint32_t)n);
        n++;
    }
}

void payload_main(void)
{
    check_devices();
    check_memory();
    check_cpus();
    REPORT_OK();
}
