#ifndef KVMM_DEVICES_ACPI_PM_H
#define KVMM_DEVICES_ACPI_PM_H

struct vm;

/* Press the ACPI power button: the guest shuts down cleanly. */
void acpi_pm_power_button(struct vm *vm);

#endif
