// SPDX-License-Identifier: GPL-2.0-only
/*
 * livepatch-split, file 2 of 3: fixes for vmlinux's util.c and for
 * fixture_mod.  The same names as livepatch-split-core.c, other copies:
 * fixture_count and fixture_helper of util.c, and fixture_mod's static
 * fixture_log instead of the vmlinux export.
 */
#include "fixture.h"
#include <klp-reloc.h>

extern int fixture_count;
extern int fixture_helper(int);
extern int fixture_log(int);
extern int mod_value;			/* fixture_mod: main.c 1, util.c 2 */

static KLP_MODULE_RELOC(vmlinux) split_util_relocs[] = {
	KLP_SYMPOS(fixture_count, 3),
	KLP_SYMPOS(fixture_helper, 2),
};

static KLP_MODULE_RELOC(fixture_mod) split_util_mod_relocs[] = {
	KLP_SYMPOS(fixture_log, 0),
	KLP_SYMPOS(mod_value, 2),
};

static fx_noinline int split_util_count(int x)
{
	fixture_count -= x;
	return fixture_helper(fixture_count);
}

int livepatch_split_util(int x)
{
	return split_util_count(x);
}

static fx_noinline int split_util_mod(int x)
{
	mod_value += x;
	return fixture_log(mod_value);
}

int livepatch_split_mod(int x)
{
	return split_util_mod(x);
}

static fx_noinline int split_util_tail(int x)
{
	return x + 1;
}

int livepatch_split_util_tail(int x)
{
	return split_util_tail(x);
}
