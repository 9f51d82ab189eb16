# Firmware payloads: static ELF64 images linked at LAYOUT_KERNEL, built with
# the host compiler.  Every firmware/*.c or firmware/*.S is one payload,
# linked with firmware/lib.  Included by the top-level Makefile.

FW_BUILD    := $(BUILD)/firmware
FW_SRCS     := $(sort $(wildcard firmware/*.c firmware/*.S))
FW_NAMES    := $(basename $(notdir $(FW_SRCS)))
FW_ELFS     := $(FW_NAMES:%=$(FW_BUILD)/%.elf)
FW_LIB_SRCS := $(sort $(wildcard firmware/lib/*.c firmware/lib/*.S))
FW_LIB_OBJS := $(addsuffix .o,$(basename $(FW_LIB_SRCS:firmware/%=$(FW_BUILD)/obj/%)))
FW_LDS      := firmware/payload.ld

# Plain integer code only: no SSE/AVX state, no red zone (no IDT, but keep
# it safe for payloads that add one), no CET end-branch markers.
FW_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	-ffreestanding -fno-builtin -fno-pic -fno-pie -mcmodel=small \
	-mno-red-zone -mno-sse -mno-sse2 -mno-mmx -mno-avx -mgeneral-regs-only \
	-fno-stack-protector -fcf-protection=none -fno-asynchronous-unwind-tables \
	-fno-unwind-tables -fno-tree-loop-distribute-patterns \
	-Ifirmware/lib -Isrc
FW_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,$(FW_LDS) -Wl,--build-id=none \
	-Wl,-z,max-page-size=4096 -Wl,-z,noexecstack

firmware: $(FW_ELFS)

$(FW_BUILD)/obj/%.o: firmware/%.c
	@mkdir -p $(dir $@)
	$(CC) $(FW_CFLAGS) -MMD -MP -c $< -o $@

$(FW_BUILD)/obj/%.o: firmware/%.S
	@mkdir -p $(dir $@)
	$(CC) $(FW_CFLAGS) -MMD -MP -c $< -o $@

$(FW_BUILD)/%.elf: $(FW_BUILD)/obj/%.o $(FW_LIB_OBJS) $(FW_LDS)
	$(CC) $(FW_CFLAGS) $(FW_LDFLAGS) -o $@ $< $(FW_LIB_OBJS)

FW_OBJS     := $(addsuffix .o,$(basename $(FW_SRCS:firmware/%=$(FW_BUILD)/obj/%)))

# Keep the objects: they are only reached through pattern rules.
.SECONDARY: $(FW_OBJS) $(FW_LIB_OBJS)

-include $(wildcard $(FW_BUILD)/obj/*.d $(FW_BUILD)/obj/lib/*.d)
