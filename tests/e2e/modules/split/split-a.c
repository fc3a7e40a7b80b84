// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-e2e-split, file A: means the copy of s_next at position KLP_E2E_POS_A.
 * split-b.c annotates the same name for another copy.  After linking, the
 * module has one undefined s_next, and `klp convert` gives this file's uses
 * their own klp symbol because they sit in a static function, whose local
 * symbol follows this file's FILE symbol in .symtab.
 */
#include <linux/compiler.h>

#include <klp-reloc.h>

#include "split.h"

#ifndef KLP_E2E_POS_A
#error "pass -DKLP_E2E_POS_A=.."
#endif

/* asm label: the ELF name of the static, with a C name that clashes with nothing */
extern char klp_e2e_s_next[] __asm__("s_next");

static KLP_MODULE_RELOC(vmlinux) klp_e2e_a_relocs[] = {
	KLP_SYMPOS(klp_e2e_s_next, KLP_E2E_POS_A),
};

/* noinline: the use must stay in this static, not move into the global caller */
static noinline const void *klp_e2e_a_s_next(void)
{
	return klp_e2e_s_next;
}

const void *klp_e2e_split_a(void)
{
	return klp_e2e_a_s_next();
}
