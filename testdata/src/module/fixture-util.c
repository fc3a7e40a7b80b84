// SPDX-License-Identifier: GPL-2.0-only
/*
 * fixture-mod (module name fixture_mod), part 2 of 2.  See fixture-main.c.
 */
#include "fixture.h"

static int mod_value = 22;			/* dup: fixture-main.c */

static fx_noinline int mod_show(int x)		/* dup: fixture-main.c */
{
	return x - mod_value;
}

static fx_noinline int mod_probe(int x)	/* dup: fixture-main.c (.init.text) */
{
	mod_value += x;
	return x + mod_show(x);
}

/* same name as an EXPORTED vmlinux function: only an annotation can pick this one */
static fx_noinline int fixture_log(int x)
{
	return x * 2 + mod_value;
}

/* global, not exported */
int fixture_mod_util(int x)
{
	return mod_probe(x) + fixture_log(x);
}
