/* The VMs of one kvmm process: one runner thread per VM creates, runs
 * and (after a reset) re-creates it, and reports its end.  The control
 * socket and the signal thread reach the VMs only through here. */
#ifndef KVMM_SUPERVISOR_H
#define KVMM_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include "types.h"
#include "vm.h"

struct kvm_host;
struct kvmm_spec;
struct vm_spec;
struct supervisor;
struct sup_vm;

enum sup_vm_phase { SUP_VM_STARTING, SUP_VM_RUNNING, SUP_VM_ENDED };

/* Start one runner per VM of spec.  done_fd (an eventfd) is signalled
 * each time a VM ends for good. */
int sup_start(struct supervisor **out, const struct kvm_host *host,
              const struct kvmm_spec *spec, int done_fd) WUR;
/* Join every runner; returns the process exit status (the first non-zero
 * VM exit code, else 0). */
int sup_join(struct supervisor *sup);
void sup_free(struct supervisor *sup);
/* Wait until every VM's first instance was built and started (or failed). */
void sup_wait_started(struct supervisor *sup);

size_t sup_count(const struct supervisor *sup);
struct sup_vm *sup_at(struct supervisor *sup, size_t index);
struct sup_vm *sup_find(struct supervisor *sup, const char *name);
bool sup_all_ended(struct supervisor *sup);
/* Stop every VM (signals, quit); they do not restart. */
void sup_stop_all(struct supervisor *sup, enum vm_stop_reason reason, int exit_code,
                  const char *why);

const struct vm_spec *sup_vm_spec(const struct sup_vm *sv);
const char *sup_vm_name(const struct sup_vm *sv);
/* The running instance, locked against teardown until sup_vm_release();
 * NULL (nothing to release) between instances and after the end. */
struct vm *sup_vm_acquire(struct sup_vm *sv);
void sup_vm_release(struct sup_vm *sv);
/* Ask this VM to stop for good. */
void sup_vm_stop(struct sup_vm *sv, enum vm_stop_reason reason, int exit_code, const char *why);

struct sup_vm_info {
    enum sup_vm_phase phase;
    bool paused;
    bool stopping;          /* the instance is going down */
    int exit_code;          /* valid when phase == SUP_VM_ENDED */
    unsigned restarts;
    char message[256];      /* why it last stopped, "" while never stopped */
};
void sup_vm_info(struct sup_vm *sv, struct sup_vm_info *info);

#endif
