// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fake vmlinux, file 2 of 3 (link order: head.o core.o util.o).
 *
 * Duplicate local names shared with util.c (and head.c), on purpose:
 *   fixture_state      OBJECT in .data here, FUNC in .text in util.c
 *                      -> .symtab order (core, util) != address order (util, core)
 *   fixture_cold_path  FUNC in .text.unlikely here, FUNC in .text in util.c
 *                      -> .symtab order != address order
 *   fixture_helper     FUNC in .text here and in util.c -> both orders agree
 *   fixture_count      OBJECT in .bss in head.c, here and in util.c -> 3 copies,
 *                      both orders agree
 */
#include "fixture.h"

/* exported data and functions */
int fixture_exported_var = 1;
EXPORT_SYMBOL(fixture_exported_var);

/* global but not exported: a livepatch needs klp relocations for these */
int fixture_max_threads = 64;

/* static data */
static int fixture_state = 7;				/* dup: util.c (FUNC) */
static int fixture_count;				/* dup: head.c, util.c */
static int fixture_rm_value __read_mostly = 3;		/* .data..read_mostly */

/* a fake static key, referenced from a livepatch's __jump_table */
struct fixture_static_key {
	int enabled;
	int pad;
	void *entries;
};
static struct fixture_static_key fixture_key __used = { 1, 0, 0 };

static fx_noinline int fixture_helper(int x)		/* dup: util.c */
{
	return x * 3 + fixture_count;
}

static fx_noinline __cold void fixture_cold_path(void)	/* dup: util.c (.text) */
{
	fixture_count += 2;
}

int fixture_nonexp_func(int x)
{
	if (x < 0)
		fixture_cold_path();
	fixture_state += x;
	return fixture_helper(x) + fixture_state + fixture_rm_value +
	       fixture_key.enabled;
}

int fixture_exported_func(int x)
{
	return fixture_nonexp_func(x) + fixture_max_threads;
}
EXPORT_SYMBOL_GPL(fixture_exported_func);

int fixture_ns_func(int x)
{
	return x + fixture_exported_var;
}
EXPORT_SYMBOL_NS_GPL(fixture_ns_func, FIXTURE_NS);

/* the livepatch core entry point every livepatch module calls */
int klp_enable_patch(void *patch)
{
	return patch ? 0 : -22;
}
EXPORT_SYMBOL_GPL(klp_enable_patch);

/* init code: in kallsyms, but a livepatch must never reference it */
static int __init fixture_early_setup(void)
{
	fixture_count = 1;
	return fixture_nonexp_func(1);
}
static int (*const fixture_initcall)(void) __used __section(".initcall6.init") =
	fixture_early_setup;
