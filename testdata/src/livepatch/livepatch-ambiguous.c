// SPDX-License-Identifier: GPL-2.0-only
/*
 * livepatch-ambiguous (module name livepatch_ambiguous): references
 * ambiguous names WITHOUT a KLP_MODULE_RELOC annotation, so `klp convert`
 * must refuse and list the candidates.  One unique name is referenced too,
 * so a converter that reports every problem still has something it could
 * convert.
 */
#include "fixture.h"

extern int klp_enable_patch(struct klp_patch *);	/* vmlinux, exported */
extern int fixture_nonexp_func(int);	/* vmlinux, unique: fine */
extern int fixture_count;		/* vmlinux: 3 OBJECTs (core.c, util.c, arch.c) */
extern int mod_value;			/* fixture_mod: 2 OBJECTs */

int livepatch_ambiguous_func(int x)
{
	fixture_count += x;
	return fixture_nonexp_func(x) + fixture_count + mod_value;
}

static struct klp_func vmlinux_funcs[] = {
	{ "fixture_nonexp_func", (void *)livepatch_ambiguous_func },
	{ 0 }
};

/* nothing of fixture_mod is replaced, but its symbols are used: it must be registered */
static struct klp_func fixture_mod_funcs[] = {
	{ 0 }
};

static struct klp_object objs[] = {
	{ 0, vmlinux_funcs },
	{ "fixture_mod", fixture_mod_funcs },
	{ 0 }
};

static struct klp_patch patch = { THIS_MODULE, objs };

static int __init livepatch_ambiguous_init(void)
{
	return klp_enable_patch(&patch);
}

static void __exit livepatch_ambiguous_exit(void)
{
}

module_init(livepatch_ambiguous_init);
module_exit(livepatch_ambiguous_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
