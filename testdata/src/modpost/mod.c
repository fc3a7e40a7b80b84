// SPDX-License-Identifier: GPL-2.0-only
/*
 * What modpost generates as <module>.mod.c, reduced to what the fixtures
 * need: the module's name, vermagic and dependencies in .modinfo, and the
 * module structure in .gnu.linkonce.this_module.  build.sh compiles this once
 * per module with -DKBUILD_MODNAME=... -DFIXTURE_VERMAGIC=... -DFIXTURE_DEPENDS=...
 *
 * The structure is a stand-in: 0x380 bytes, 64-byte aligned, the name at
 * 0x18 and the init/exit pointers at 0x138/0x350 (the offsets of an x86_64
 * 6.1 kernel's struct module, used here on every architecture).
 */
#include "fixture.h"

/* GCC emits these in reverse: .modinfo reads depends=, name=, vermagic= */
MODULE_INFO(vermagic, FIXTURE_VERMAGIC);
MODULE_INFO(name, KBUILD_MODNAME);
MODULE_INFO(depends, FIXTURE_DEPENDS);

struct fixture_module {
	char pad0[0x18];
	char name[56];
	char pad1[0x138 - 0x18 - 56];
	int (*init)(void);
	char pad2[0x350 - 0x138 - 8];
	void (*exit)(void);
	char pad3[0x380 - 0x350 - 8];
};

_Static_assert(sizeof(struct fixture_module) == 0x380, "fake struct module size");

extern int init_module(void);
extern void cleanup_module(void);

struct fixture_module __this_module
__section(".gnu.linkonce.this_module") __attribute__((__aligned__(64))) = {
	.name = KBUILD_MODNAME,
	.init = init_module,
	.exit = cleanup_module,
};
