/*
 * VM specification: the JSON spec file (or command-line flags) turned into
 * plain C structs.  Only spec.c knows about JSON; everything downstream reads
 * these structs.  The format is described in docs/spec.md.
 *
 * Errors are returned as 0 / -errno; the text in `err` is one line of the
 * form "PATH: what was expected", where PATH is a JSON path ("vms[1].vcpus")
 * or a command-line flag ("--cpus").
 */
#ifndef KVMM_SPEC_H
#define KVMM_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPEC_NAME_MAX 63          /* characters in a VM name */
#define SPEC_VCPUS_MAX 255
#define SPEC_MEMORY_MIN_MIB 16
#define SPEC_PARAM_KEY_MAX 31     /* device-tree property name limit */
/* The command line and the params share the 64 KiB device tree with the
 * machine's description (13 KiB with 255 vCPUs); these bounds keep all
 * of it inside. */
#define SPEC_CMDLINE_MAX 16384    /* bytes, without the NUL */
#define SPEC_PARAMS_MAX 256       /* entries */
#define SPEC_PARAMS_TEXT_MAX 16384 /* bytes of all keys and values */
#define SPEC_DISKS_MAX 16
#define SPEC_DISK_SERIAL_MAX 20   /* virtio-blk GET_ID returns 20 bytes */
#define SPEC_NETS_MAX 8
#define SPEC_NET_TAP_MAX 15       /* IFNAMSIZ - 1 */
#define SPEC_CPUS_MAX 1024        /* host CPU numbers in sched affinities */
#define SPEC_CONTROL_PATH_MAX 107 /* bytes: a UNIX socket address holds 108 */
#define SPEC_CPU_WORDS (SPEC_CPUS_MAX / 64)

enum console_kind { CONSOLE_STDIO, CONSOLE_NONE, CONSOLE_FILE };
enum reboot_action { REBOOT_RESTART, REBOOT_EXIT };

enum disk_cache { DISK_CACHE_WRITEBACK, DISK_CACHE_NONE };

struct spec_disk {
	char *path;                    /* raw image file or block device */
	bool read_only;
	char serial[SPEC_DISK_SERIAL_MAX + 1];
	enum disk_cache cache;         /* none = O_DIRECT */
	unsigned queues;               /* request queues; 0 = one per vCPU (at most 8) */
	unsigned coalesce_us;          /* interrupt deferral bound; 0 = off, default 4000 */
};

#define SPEC_DISK_QUEUES_MAX 8
#define SPEC_DISK_COALESCE_MAX_US 10000
#define SPEC_DISK_COALESCE_DEFAULT_US 4000

struct spec_net {
	char tap[SPEC_NET_TAP_MAX + 1];  /* TAP device, opened or created */
	uint8_t mac[6];
	bool has_mac;                  /* else spec_mac_default() */
};

struct spec_param {
	char *key;
	char *value;
};

/* "sched": placement and weights of the VM's threads (docs/spec.md). */
struct spec_sched {
	char *cgroup_root;             /* NULL: /sys/fs/cgroup */
	char *cgroup_parent;           /* NULL: the top of the hierarchy */
	unsigned weight;               /* 1..10000 per vCPU thread; 0: 100 */
	unsigned io_weight;            /* the I/O thread; 0: weight */
	unsigned *vcpu_weights;        /* one per vCPU, or NULL */
	size_t nvcpu_weights;
	uint64_t (*vcpu_affinity)[SPEC_CPU_WORDS]; /* one CPU mask per vCPU, or NULL */
	size_t nvcpu_affinity;
	uint64_t io_affinity[SPEC_CPU_WORDS];      /* all zero: not pinned */
	bool adaptive;
	unsigned period_ms;            /* 10..10000, default 100 */
	unsigned min_weight, max_weight; /* 0: base/8 and base*8 */
	bool coschedule;
	unsigned max_skew_ms;          /* 1..1000, default 10 */
	unsigned boost_weight;         /* 0..10000, default 1000; 0: holds only */
};

struct vm_spec {
	char name[SPEC_NAME_MAX + 1];  /* [A-Za-z0-9_.-]{1,63}, unique */
	char *kernel;                  /* required, readable regular file */
	char *initrd;                  /* optional, readable regular file */
	char *cmdline;                 /* read-only; default "console=ttyS0" */
	unsigned vcpus;                /* 1..255 */
	uint64_t memory_mib;           /* 16..host MemTotal */
	enum console_kind console;
	char *console_path;            /* set when console == CONSOLE_FILE */
	enum reboot_action on_reboot;
	struct spec_param *params;     /* passed to payloads in the device tree */
	size_t nparams;
	char *dump_dtb;                /* optional: write the device tree here */
	struct spec_disk *disks;       /* virtio-blk disks, /dev/vda, vdb, ... */
	size_t ndisks;
	bool rng;                      /* virtio-rng fed from getrandom() */
	struct spec_sched sched;
	char *introspect;              /* "introspect" object as JSON text; NULL = off */
	struct spec_net *nets;         /* virtio-net NICs, eth0, eth1, ... */
	size_t nnets;
};

struct kvmm_spec {
	struct vm_spec *vms;
	size_t nvms;
	char *control_path;            /* "control": {"path"}; NULL = none */
};

/* The settable parts of a VM, shared by the JSON keys and the CLI flags. */
enum vm_field {
	VM_FIELD_NAME,
	VM_FIELD_KERNEL,
	VM_FIELD_INITRD,
	VM_FIELD_CMDLINE,
	VM_FIELD_VCPUS,
	VM_FIELD_MEMORY,
	VM_FIELD_CONSOLE,
	VM_FIELD_ON_REBOOT,
	VM_FIELD_PARAMS,
	VM_FIELD_DUMP_DTB,
	VM_FIELD_DISKS,
	VM_FIELD_RNG,
	VM_FIELD_SCHED,
	VM_FIELD_NETS,
	VM_FIELD_INTROSPECT,
	VM_FIELD_COUNT
};

/*
 * Load a spec file.  Relative paths inside it are resolved against the
 * directory that contains it.  On failure `out` is left empty.
 */
int spec_load_file(const char *path, struct kvmm_spec *out, char *err,
		   size_t errlen) __attribute__((warn_unused_result));

/*
 * spec_load_file() without the host checks of vm_spec_validate() (input
 * files, host memory, the required kernel), for callers that override
 * fields first and validate afterwards.  Keys, types, ranges and names are
 * still checked.
 */
int spec_parse_file(const char *path, struct kvmm_spec *out, char *err,
		    size_t errlen) __attribute__((warn_unused_result));

/* spec_load_file() from a string; base_dir NULL leaves relative paths as is. */
int spec_load_string(const char *json, const char *base_dir,
		     struct kvmm_spec *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

void spec_free(struct kvmm_spec *spec);

/*
 * Load a Firecracker JSON config file (boot-source, machine-config,
 * drives, ...) as a one-VM spec; keys kvmm cannot honour are errors that
 * name them.  validate: as spec_load_file() (true) or spec_parse_file(),
 * except that drive images are checked either way (no flag changes them).
 * The mapping is in docs/spec.md.
 */
int spec_fc_load_file(const char *path, bool validate, struct kvmm_spec *out,
		      char *err, size_t errlen) __attribute__((warn_unused_result));

/* The Firecracker key that sets `field` ("machine-config.vcpu_count" for
 * VM_FIELD_VCPUS), or NULL if a config file has none. */
const char *spec_fc_field_key(enum vm_field field);

/* Defaults for the VM at position `index` (its name becomes "vm<index>"). */
void vm_spec_init_defaults(struct vm_spec *vm, size_t index);

/* Frees what a vm_spec owns and leaves it zeroed. */
void vm_spec_free(struct vm_spec *vm);

/*
 * Check ranges and input files of a complete VM.  path_prefix is "" or NULL
 * for a single VM, or e.g. "vms[1]", giving messages like "vms[1].kernel: ...".
 */
int vm_spec_validate(const struct vm_spec *vm, const char *path_prefix,
		     char *err, size_t errlen) __attribute__((warn_unused_result));

/* The JSON key of a field ("memory_mib" for VM_FIELD_MEMORY). */
const char *vm_field_key(enum vm_field field);

/*
 * Set one field from its text form, as given on the command line:
 * "4" for vcpus, "file:PATH" for console, "KEY=VALUE" for params (added, or
 * replacing the value of an existing key).  Relative paths are joined to
 * base_dir unless it is NULL.  Errors are reported under `label`.
 */
int vm_spec_field_set(struct vm_spec *vm, enum vm_field field, const char *text,
		      const char *base_dir, const char *label, char *err,
		      size_t errlen) __attribute__((warn_unused_result));

/* The check vm_spec_validate() applies to one field, reported under `label`. */
int vm_spec_field_check(const struct vm_spec *vm, enum vm_field field,
			const char *label, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* A control socket path (--control, "control": {"path"}): not empty, at
 * most SPEC_CONTROL_PATH_MAX bytes (what a UNIX socket address holds), in
 * a directory kvmm can create it in. */
int spec_control_path_check(const char *path, const char *label, char *err,
			    size_t errlen) __attribute__((warn_unused_result));

/* Host memory limit for memory_mib; 0 (the default) reads /proc/meminfo. */
void spec_set_host_mem_mib(uint64_t mib);

/* "52:54:00:12:34:56" (hex digits in either case): false unless it is six
 * colon-separated pairs naming a unicast, non-zero address. */
bool spec_mac_parse(const char *text, uint8_t mac[6]);
/* The MAC of NIC `index` of VM `vm_name` when the spec gives none:
 * 52:54 and a hash of both, so it is the same on every run. */
void spec_mac_default(const char *vm_name, size_t index, uint8_t mac[6]);

#endif /* KVMM_SPEC_H */
