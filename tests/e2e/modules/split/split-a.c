// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-e2e-split, file A: means the copy of s_next at position KLP_E2E_POS_A,
 * and the vmlinux copy of the ELF name KLP_E2E_X at position KLP_E2E_POS_XA.
 * split-b.c annotates s_next for another vmlinux copy and KLP_E2E_X for its
 * copy in the module binfmt_misc.  After linking, the module has one
 * undefined symbol of each name, and `klp convert` gives this file's uses
 * their own klp symbols because they sit in static functions, whose local
 * symbols follow this file's FILE symbol in .symtab.  Without KLP_E2E_X (a
 * kernel where no static name is both vmlinux's and binfmt_misc's) only
 * s_next is split.
 */
#include <linux/compiler.h>
#include <linux/stddef.h>

#include <klp-reloc.h>

#include "split.h"

#if !defined(KLP_E2E_POS_A) || (defined(KLP_E2E_X) && !defined(KLP_E2E_POS_XA))
#error "pass -DKLP_E2E_POS_A=.., and with -DKLP_E2E_X='\"NAME\"' -DKLP_E2E_POS_XA=.."
#endif

/* asm labels: the ELF names of the statics, with C names that clash with nothing */
extern char klp_e2e_s_next[] __asm__("s_next");
#ifdef KLP_E2E_X
extern char klp_e2e_x[] __asm__(KLP_E2E_X);
#endif

static KLP_MODULE_RELOC(vmlinux) klp_e2e_a_relocs[] = {
	KLP_SYMPOS(klp_e2e_s_next, KLP_E2E_POS_A),
#ifdef KLP_E2E_X
	KLP_SYMPOS(klp_e2e_x, KLP_E2E_POS_XA),
#endif
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

static noinline const void *klp_e2e_a_x(void)
{
#ifdef KLP_E2E_X
	return klp_e2e_x;
#else
	return NULL;
#endif
}

const void *klp_e2e_split_xa(void)
{
	return klp_e2e_a_x();
}
