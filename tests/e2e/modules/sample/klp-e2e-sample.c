// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-e2e-sample: the smallest livepatch, used as a sanity check of the
 * e2e rig.  It replaces cmdline_proc_show() (what /proc/cmdline prints) and
 * uses only exported symbols, so the kernel loads it as built, without any
 * conversion.
 */
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>

static int klp_e2e_cmdline_show(struct seq_file *m, void *v)
{
	seq_puts(m, "klp-e2e sample: patched\n");
	return 0;
}

static struct klp_func klp_e2e_funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = klp_e2e_cmdline_show },
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
MODULE_DESCRIPTION("klp e2e: sanity livepatch of cmdline_proc_show");
MODULE_INFO(livepatch, "Y");
