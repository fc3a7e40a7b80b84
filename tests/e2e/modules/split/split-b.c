// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-e2e-split, file B: means the copy of s_next at position KLP_E2E_POS_B,
 * and the copy of the ELF name KLP_E2E_X in the module binfmt_misc at position
 * KLP_E2E_POS_XB.  split-a.c annotates s_next for another vmlinux copy and
 * KLP_E2E_X for its vmlinux copy, so one undefined symbol becomes klp symbols
 * of two objects.  Here the uses sit in global functions, whose symbols
 * record no file: `klp convert` places them by the DWARF compile unit (the
 * kernel's config builds modules with -g).
 */
#include <linux/compiler.h>
#include <linux/stddef.h>

#include <klp-reloc.h>

#include "split.h"

#if !defined(KLP_E2E_POS_B) || (defined(KLP_E2E_X) && !defined(KLP_E2E_POS_XB))
#error "pass -DKLP_E2E_POS_B=.., and with -DKLP_E2E_X='\"NAME\"' -DKLP_E2E_POS_XB=.."
#endif

/* asm labels: the ELF names of the statics, with C names that clash with nothing */
extern char klp_e2e_s_next[] __asm__("s_next");
#ifdef KLP_E2E_X
extern char klp_e2e_x[] __asm__(KLP_E2E_X);
#endif

static KLP_MODULE_RELOC(vmlinux) klp_e2e_b_relocs[] = {
	KLP_SYMPOS(klp_e2e_s_next, KLP_E2E_POS_B),
};

#ifdef KLP_E2E_X
static KLP_MODULE_RELOC(binfmt_misc) klp_e2e_b_module_relocs[] = {
	KLP_SYMPOS(klp_e2e_x, KLP_E2E_POS_XB),
};
#endif

const void *klp_e2e_split_b(void)
{
	return klp_e2e_s_next;
}

/* only meaningful once binfmt_misc is loaded: livepatch binds it then */
const void *klp_e2e_split_xb(void)
{
#ifdef KLP_E2E_X
	return klp_e2e_x;
#else
	return NULL;
#endif
}
