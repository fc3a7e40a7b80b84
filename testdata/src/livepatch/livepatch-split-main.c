// SPDX-License-Identifier: GPL-2.0-only
/*
 * livepatch-split, file 3 of 3 (module name livepatch_split): registers the
 * fixes of livepatch-split-core.c and livepatch-split-util.c.  It uses no
 * ambiguous name itself.
 */
#include "fixture.h"

extern int klp_enable_patch(void *);	/* vmlinux, exported */
int livepatch_split_core(int);
int livepatch_split_util(int);
int livepatch_split_mod(int);

static const struct { const char *name; void *func; } split_funcs[] = {
	{ "fixture_state", (void *)livepatch_split_core },
	{ "fixture_helper", (void *)livepatch_split_util },
	{ "fixture_mod_nonexp", (void *)livepatch_split_mod },
	{ 0, 0 },
};

static int __init livepatch_split_init(void)
{
	return klp_enable_patch((void *)split_funcs);
}

static void __exit livepatch_split_exit(void)
{
}

module_init(livepatch_split_init);
module_exit(livepatch_split_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
