// SPDX-License-Identifier: GPL-2.0-only
/*
 * livepatch-split, file 3 of 3 (module name livepatch_split): registers the
 * fixes of livepatch-split-core.c and livepatch-split-util.c.  It uses no
 * ambiguous name itself.
 */
#include "fixture.h"

extern int klp_enable_patch(struct klp_patch *);	/* vmlinux, exported */
int livepatch_split_core(int);
int livepatch_split_util(int);
int livepatch_split_mod(int);

/* both names are ambiguous in vmlinux: the functions are position 1 of 2 */
static struct klp_func vmlinux_funcs[] = {
	{ "fixture_state", (void *)livepatch_split_core, 1 },
	{ "fixture_helper", (void *)livepatch_split_util, 1 },
	{ 0 }
};

static struct klp_func fixture_mod_funcs[] = {
	{ "fixture_mod_nonexp", (void *)livepatch_split_mod },
	{ 0 }
};

static struct klp_object objs[] = {
	{ 0, vmlinux_funcs },
	{ "fixture_mod", fixture_mod_funcs },
	{ 0 }
};

static struct klp_patch patch = { THIS_MODULE, objs };

static int __init livepatch_split_init(void)
{
	return klp_enable_patch(&patch);
}

static void __exit livepatch_split_exit(void)
{
}

module_init(livepatch_split_init);
module_exit(livepatch_split_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
