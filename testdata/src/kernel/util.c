// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fake vmlinux, file 3 of 3.  See core.c for the duplicate names.
 */
#include "fixture.h"

static int fixture_count;				/* dup: head.c, core.c */

static fx_noinline int fixture_state(int x)		/* dup: core.c (OBJECT) */
{
	return x ^ fixture_count;
}

static fx_noinline int fixture_helper(int x)		/* dup: core.c */
{
	return x * 5 - fixture_count;
}

static fx_noinline void fixture_cold_path(void)	/* dup: core.c (.text.unlikely) */
{
	fixture_count += 7;
}

/*
 * A local function with a compiler-style suffix, like the clones GCC makes
 * (foo.isra.0, foo.constprop.0).  The asm label gives it the dotted name.
 */
static fx_noinline int fixture_calc(int x) __asm__("fixture_calc.constprop.0");
static fx_noinline int fixture_calc(int x)
{
	return x * x + fixture_count;
}

/* exported; fixture-mod has a static function with the same name */
int fixture_log(int level)
{
	if (level > 3)
		fixture_cold_path();
	return fixture_state(level) + fixture_helper(level) + fixture_calc(level);
}
EXPORT_SYMBOL(fixture_log);

int fixture_util_exported(int x)
{
	return fixture_log(x) + 1;
}
EXPORT_SYMBOL(fixture_util_exported);
