// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-e2e-split: a livepatch of three files in which two files mean different
 * copies of the same ambiguous vmlinux name, s_next (static seq_file
 * iterators of several files).  split-a.c and split-b.c each annotate it with
 * KLP_MODULE_RELOC(vmlinux) for their own copy; the positions come from the
 * build command line because the test reads them from the kernel's
 * System.map.  This file uses no ambiguous name itself.
 *
 * The replacement of loadavg_proc_show() (/proc/loadavg) prints the address
 * each file was bound to, to be compared with /proc/kallsyms in the guest:
 *
 *   klp-e2e split: a@ADDR b@ADDR
 */
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>

#include "split.h"

static int klp_e2e_loadavg_show(struct seq_file *m, void *v)
{
	seq_printf(m, "klp-e2e split: a@%px b@%px\n", klp_e2e_split_a(), klp_e2e_split_b());
	return 0;
}

static struct klp_func klp_e2e_funcs[] = {
	{ .old_name = "loadavg_proc_show", .new_func = klp_e2e_loadavg_show },
	{ }
};

static struct klp_object klp_e2e_objs[] = {
	{ .name = NULL /* vmlinux */, .funcs = klp_e2e_funcs },
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
MODULE_DESCRIPTION("klp e2e: one ambiguous vmlinux name, two copies chosen per source file");
MODULE_INFO(livepatch, "Y");
