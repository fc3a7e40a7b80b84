// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-e2e-split, file B: means the copy of s_next at position KLP_E2E_POS_B.
 * split-a.c annotates the same name for another copy.  After linking, the
 * module has one undefined s_next.  Here the use sits in a global function,
 * whose symbol records no file: `klp convert` places it by the DWARF compile
 * unit (the kernel's config builds modules with -g).
 */
#include <linux/compiler.h>

#include <klp-reloc.h>

#include "split.h"

#ifndef KLP_E2E_POS_B
#error "pass -DKLP_E2E_POS_B=.."
#endif

/* asm label: the ELF name of the static, with a C name that clashes with nothing */
extern char klp_e2e_s_next[] __asm__("s_next");

static KLP_MODULE_RELOC(vmlinux) klp_e2e_b_relocs[] = {
	KLP_SYMPOS(klp_e2e_s_next, KLP_E2E_POS_B),
};

const void *klp_e2e_split_b(void)
{
	return klp_e2e_s_next;
}
