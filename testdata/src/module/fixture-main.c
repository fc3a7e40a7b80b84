// SPDX-License-Identifier: GPL-2.0-only
/*
 * fixture-mod (module name fixture_mod), part 1 of 2 (linked first).
 *
 * Duplicate local names shared with fixture-util.c:
 *   mod_value  OBJECT in .data in both files        -> positions 1 (here), 2 (util)
 *   mod_show   FUNC in .text in both files          -> positions 1 (here), 2 (util)
 *   mod_probe  FUNC in .init.text here, .text in util: the init copy comes
 *              first in the .ko symbol table but is not a "core" symbol, so
 *              the util copy is position 2 when fixture_mod loads after the
 *              livepatch and position 1 when it was already loaded.
 */
#include "fixture.h"

extern int fixture_exported_func(int);		/* vmlinux, EXPORT_SYMBOL_GPL */
extern int fixture_mod_util(int);		/* fixture-util.c */

static int mod_value = 11;			/* dup: fixture-util.c */

static fx_noinline int mod_show(int x)		/* dup: fixture-util.c */
{
	return x + mod_value;
}

/* global, not exported */
int fixture_mod_nonexp(int x)
{
	mod_value += x;
	return mod_show(x) * 2;
}

int fixture_mod_exported(int x)
{
	return fixture_mod_nonexp(x) + fixture_exported_func(x);
}
EXPORT_SYMBOL(fixture_mod_exported);

static fx_noinline int __init mod_probe(void)	/* dup: fixture-util.c (.text) */
{
	return mod_value - 11;
}

static int __init fixture_mod_init(void)
{
	return mod_probe() + fixture_mod_util(0);
}

static void __exit fixture_mod_exit(void)
{
	mod_value = 0;
}

module_init(fixture_mod_init);
module_exit(fixture_mod_exit);
MODULE_LICENSE("GPL");
