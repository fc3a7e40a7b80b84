// SPDX-License-Identifier: GPL-2.0-only
/*
 * livepatch-ambiguous (module name livepatch_ambiguous): references
 * ambiguous names WITHOUT a KLP_MODULE_RELOC annotation, so `klp convert`
 * must refuse and list the candidates.  One unique name is referenced too,
 * so a converter that reports every problem still has something it could
 * convert.
 */
#include "fixture.h"

extern int klp_enable_patch(void *);	/* vmlinux, exported */
extern int fixture_nonexp_func(int);	/* vmlinux, unique: fine */
extern int fixture_count;		/* vmlinux: 3 OBJECTs (core.c, util.c, arch.c) */
extern int mod_value;			/* fixture_mod: 2 OBJECTs */

int livepatch_ambiguous_func(int x)
{
	fixture_count += x;
	return fixture_nonexp_func(x) + fixture_count + mod_value;
}

static const char *const names[] = { "fixture_nonexp_func", 0 };

static int __init livepatch_ambiguous_init(void)
{
	return klp_enable_patch((void *)names);
}

static void __exit livepatch_ambiguous_exit(void)
{
}

module_init(livepatch_ambiguous_init);
module_exit(livepatch_ambiguous_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
