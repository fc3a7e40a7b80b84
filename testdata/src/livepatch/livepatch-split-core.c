// SPDX-License-Identifier: GPL-2.0-only
/*
 * livepatch-split, file 1 of 3: fixes for vmlinux's core.c.  Its annotations
 * mean core.c's copies; livepatch-split-util.c annotates the same names for
 * other copies.  After linking, the module has one undefined symbol per name,
 * so `klp convert` must split each into one klp symbol per copy, choosing
 * by the source file of each relocation.
 */
#include "fixture.h"
#include <klp-reloc.h>

extern int fixture_count;		/* vmlinux: head.c 1, core.c 2, util.c 3 */
extern int fixture_helper(int);		/* vmlinux: core.c 1, util.c 2 */
extern int fixture_log(int);		/* exported by vmlinux; also a static of fixture_mod */
extern int fixture_nonexp_func(int);	/* unique: no annotation needed */

static KLP_MODULE_RELOC(vmlinux) split_core_relocs[] = {
	KLP_SYMPOS(fixture_count, 2),
	KLP_SYMPOS(fixture_helper, 1),
	KLP_SYMPOS(fixture_log, 0),
};

/* A local object in .data (.data.rel on ppc64le/s390x) pointing at core.c's copy. */
static int *volatile split_core_count_ptr = &fixture_count;

/*
 * A use in a static function belongs to this file: its local symbol follows
 * this file's STT_FILE symbol.
 */
static fx_noinline int split_core_count(int x)
{
	fixture_count += x;
	return fixture_helper(fixture_count) + *split_core_count_ptr + fixture_log(x);
}

/*
 * A global symbol records no file.  The DWARF compile unit does (this module
 * is built with -g), and so do arm64's mapping symbols.
 */
int livepatch_split_core(int x)
{
	return split_core_count(x) + fixture_nonexp_func(x) + fixture_count;
}

static fx_noinline int split_core_tail(int x)
{
	return fixture_nonexp_func(x) + fixture_helper(x);
}

int livepatch_split_core_tail(int x)
{
	return split_core_tail(x);
}
