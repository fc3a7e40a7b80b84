// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-e2e-split: a livepatch of three files in which two files mean different
 * copies of the same names:
 *
 *   s_next      ambiguous in vmlinux (static seq_file iterators of several
 *               files): split-a.c and split-b.c each annotate it with
 *               KLP_MODULE_RELOC(vmlinux) for their own copy;
 *   KLP_E2E_X   a static of both vmlinux and the module binfmt_misc:
 *               split-a.c annotates it for vmlinux, split-b.c with
 *               KLP_MODULE_RELOC(binfmt_misc), so one undefined symbol
 *               becomes klp symbols of two objects.
 *
 * The name KLP_E2E_X and the positions come from the build command line
 * because the test reads them from the kernel's files.  This file uses
 * neither name itself.
 *
 * The replacement of filesystems_proc_show() (/proc/filesystems; a function with
 * one ftrace call site in every kernel here, see docs/kernels.md) prints the address
 * each file was bound to, to be compared with /proc/kallsyms in the guest:
 *
 *   klp-e2e split: a@ADDR b@ADDR xa@ADDR xb@ADDR
 *
 * xb is bound when binfmt_misc loads (the binfmt_misc object below, which
 * patches no function, carries its relocations), so it means something only
 * while binfmt_misc is loaded.  Without KLP_E2E_X (split-a.c) there is no
 * binfmt_misc object and xa and xb are 0.
 */
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>

#include "split.h"

static int klp_e2e_filesystems_show(struct seq_file *m, void *v)
{
	seq_printf(m, "klp-e2e split: a@%px b@%px xa@%px xb@%px\n", klp_e2e_split_a(),
		   klp_e2e_split_b(), klp_e2e_split_xa(), klp_e2e_split_xb());
	return 0;
}

static struct klp_func klp_e2e_funcs[] = {
	{ .old_name = "filesystems_proc_show", .new_func = klp_e2e_filesystems_show },
	{ }
};

#ifdef KLP_E2E_X
/* an object needs a funcs list (livepatch refuses NULL), which may be empty */
static struct klp_func klp_e2e_no_funcs[] = {
	{ }
};
#endif

static struct klp_object klp_e2e_objs[] = {
	{ .name = NULL /* vmlinux */, .funcs = klp_e2e_funcs },
#ifdef KLP_E2E_X
	{ .name = "binfmt_misc", .funcs = klp_e2e_no_funcs },
#endif
	{ }
};

static struct klp_patch klp_e2e_patch = {
	.mod = THIS_MODULE,
	.objs = klp_e2e_objs,
};

static int __init klp_e2e_init(void)
{
	return klp_enable_patch(&klp_e2e_patch);
}

static void __exit klp_e2e_exit(void)
{
}

module_init(klp_e2e_init);
module_exit(klp_e2e_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klp e2e: one name, copies of vmlinux and binfmt_misc chosen per source file");
MODULE_INFO(livepatch, "Y");
