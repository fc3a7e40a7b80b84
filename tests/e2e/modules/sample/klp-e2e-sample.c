// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-e2e-sample: the smallest livepatch, used as a sanity check of the
 * e2e rig.  It replaces cmdline_proc_show() (what /proc/cmdline prints) and
 * uses only exported symbols, so the kernel loads it as built, without any
 * conversion.  -DKLP_E2E_OLD_NAME='"NAME"' makes it replace another
 * seq_file show function instead.
 */
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>

#ifndef KLP_E2E_OLD_NAME
#define KLP_E2E_OLD_NAME "cmdline_proc_show"
#endif

static int klp_e2e_show(struct seq_file *m, void *v)
{
	seq_puts(m, "klp-e2e sample: patched\n");
	return 0;
}

static struct klp_func klp_e2e_funcs[] = {
	{ .old_name = KLP_E2E_OLD_NAME, .new_func = klp_e2e_show },
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
MODULE_DESCRIPTION("klp e2e: sanity livepatch of a seq_file show function");
MODULE_INFO(livepatch, "Y");
