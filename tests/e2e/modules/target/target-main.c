// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-e2e-target: the loadable module that the klp-e2e-modpatch livepatch
 * patches, with the module-side cases of the e2e test:
 *
 *   target_pick, target_count  a static function and a static object defined
 *                              in target-a.c and in target-b.c (two copies of
 *                              each name: positions 1 and 2)
 *   target_key                 a static key the module branches on
 *   target_branch()            that branch (global, not exported)
 *
 * Reading /proc/klp_e2e_target runs target_show(), which the livepatch
 * replaces; unpatched it prints
 *
 *   klp-e2e target: branch=0 sums=<a> <b>
 *
 * /proc/klp_e2e_target_where runs target_where_show(), which the livepatch
 * replaces with code that prints addresses only: it stays safe to read when
 * the patch's relocations for this module point to where it was before.
 *
 * /proc/klp_e2e_target_weak runs target_weak_show() (target-a.c), whose
 * kallsyms range also holds the body of an overridden __weak function.
 */
#include <linux/init.h>
#include <linux/jump_label.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

#include "target.h"

DEFINE_STATIC_KEY_FALSE(target_key);

noinline int target_branch(void)
{
	return static_branch_unlikely(&target_key) ? 1 : 0;
}

static int target_show(struct seq_file *m, void *v)
{
	seq_printf(m, "klp-e2e target: branch=%d sums=%x %x\n", target_branch(),
		   target_a_sum(), target_b_sum());
	return 0;
}

static int target_where_show(struct seq_file *m, void *v)
{
	seq_puts(m, "klp-e2e target: where\n");
	return 0;
}

static int __init target_init(void)
{
	if (!proc_create_single("klp_e2e_target", 0444, NULL, target_show))
		return -ENOMEM;
	if (!proc_create_single("klp_e2e_target_where", 0444, NULL, target_where_show)) {
		remove_proc_entry("klp_e2e_target", NULL);
		return -ENOMEM;
	}
	if (!proc_create_single("klp_e2e_target_weak", 0444, NULL, target_weak_show)) {
		remove_proc_entry("klp_e2e_target_where", NULL);
		remove_proc_entry("klp_e2e_target", NULL);
		return -ENOMEM;
	}
	return 0;
}

static void __exit target_exit(void)
{
	remove_proc_entry("klp_e2e_target_weak", NULL);
	remove_proc_entry("klp_e2e_target_where", NULL);
	remove_proc_entry("klp_e2e_target", NULL);
}

module_init(target_init);
module_exit(target_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klp e2e: a module to patch, with ambiguous statics and a static key");
