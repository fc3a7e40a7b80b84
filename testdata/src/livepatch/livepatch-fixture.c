// SPDX-License-Identifier: GPL-2.0-only
/*
 * livepatch-fixture (module name livepatch_fixture): a livepatch module that
 * patches one vmlinux function and one fixture_mod function and, on the
 * way, references every kind of external symbol `klp convert` must handle.
 * testdata/README.md lists each reference with its expected object and
 * position.
 */
#include "fixture.h"
#include <klp-reloc.h>

/* vmlinux, exported (Module.symvers): must stay normal relocations */
extern int fixture_exported_func(int);			/* EXPORT_SYMBOL_GPL */
extern int klp_enable_patch(struct klp_patch *);	/* EXPORT_SYMBOL_GPL */

/* vmlinux, not exported, unique names: position 0 */
extern int fixture_nonexp_func(int);			/* global FUNC */
extern int fixture_max_threads;				/* global OBJECT */
extern int fixture_rm_value;				/* local OBJECT, .data..read_mostly */
extern int fixture_calc_cp(int) __asm__("fixture_calc.constprop.0"); /* local FUNC, dotted */
/* fixture_key (local OBJECT) is referenced from the __jump_table asm below only */

/* vmlinux, not exported, ambiguous names: annotated below */
extern int fixture_state;		/* OBJECT in core.c = position 2 (the util.c FUNC is 1) */
extern int fixture_helper(int);		/* FUNC in core.c = position 1 */
extern void fixture_cold_path(void);	/* FUNC in util.c (.text) = position 1 */

/* fixture_mod */
extern int fixture_mod_nonexp(int);	/* global, not exported, unique: position 0 */
extern int fixture_mod_exported(int);	/* exported by fixture_mod (Module.symvers) */
extern int mod_value;			/* ambiguous: the fixture-util.c copy = position 2 */
extern int fixture_log(int);		/* vmlinux EXPORTS this name, but we want the
					   fixture_mod static: annotation wins */

KLP_MODULE_RELOC(vmlinux) livepatch_fixture_vmlinux_relocs[] = {
	KLP_SYMPOS(fixture_state, 2),
	KLP_SYMPOS(fixture_helper, 1),
	KLP_SYMPOS(fixture_cold_path, 1),
};

KLP_MODULE_RELOC(fixture_mod) livepatch_fixture_mod_relocs[] = {
	KLP_SYMPOS(mod_value, 2),
	KLP_SYMPOS(fixture_log, 0),
};

/* .text.unlikely */
static fx_noinline __cold void lp_cold(int x)
{
	fixture_cold_path();
	fixture_max_threads = fixture_nonexp_func(x);
}

/* a third text section, like the v7 "sections" selftest */
__section(".text.klp_extra") fx_noinline int lp_extra(int x)
{
	return fixture_nonexp_func(x) + fixture_max_threads;
}

/* a static-key-like entry: { .long code - ., .long target - ., .quad key - . } */
static fx_noinline int lp_branch(int x)
{
	__asm__ __volatile__("1:\n\t"
			     ".pushsection __jump_table, \"aw\"\n\t"
			     ".balign 8\n\t"
			     ".long 1b - .\n\t"
			     ".long 1b - .\n\t"
			     ".quad fixture_key + 1 - .\n\t"
			     ".popsection\n");
	return x + 1;
}

/* .text: the replacement for vmlinux's fixture_nonexp_func */
int livepatch_fixture_nonexp_func(int x)
{
	int r;

	if (__builtin_expect(x < -100, 0))
		lp_cold(x);
	r = fixture_nonexp_func(x) + fixture_exported_func(x);
	fixture_max_threads = r;
	r += fixture_state;
	fixture_state = r;
	r += fixture_helper(x) + fixture_calc_cp(x) + fixture_rm_value;
	return r + lp_extra(x) + lp_branch(x);
}

/* .text: the replacement for fixture_mod's fixture_mod_nonexp */
int livepatch_fixture_mod_nonexp(int x)
{
	mod_value += x;
	return fixture_mod_nonexp(x) + fixture_mod_exported(x) + fixture_log(x);
}

/* function and data pointers in .data (x86_64/arm64) or .data.rel (ppc64le/s390x) */
void *livepatch_fixture_data_ptrs[] = {
	(void *)fixture_nonexp_func,
	&fixture_max_threads,
	(void *)fixture_mod_nonexp,
};

/* ... and in .rodata (x86_64/arm64) or .data.rel.ro (ppc64le/s390x); vmlinux
 * symbols only, since module-specific relocations are applied late */
void *const livepatch_fixture_ro_ptrs[] = {
	(void *)fixture_nonexp_func,
	&fixture_state,
};

/* a pointer in .data..read_mostly */
void *livepatch_fixture_rm_ptr __read_mostly = &fixture_rm_value;

/* a relative table in .data, like exception or static-call tables */
__asm__(".pushsection .data\n\t"
	".balign 8\n\t"
	".globl livepatch_fixture_rel_table\n\t"
	"livepatch_fixture_rel_table:\n\t"
	".long fixture_nonexp_func - .\n\t"
	".long fixture_max_threads - .\n\t"
	".quad fixture_nonexp_func - .\n\t"
	".size livepatch_fixture_rel_table, 16\n\t"
	".popsection\n");


static struct klp_func vmlinux_funcs[] = {
	{ "fixture_nonexp_func", (void *)livepatch_fixture_nonexp_func, 0 },
	{ 0 }
};

static struct klp_func fixture_mod_funcs[] = {
	{ "fixture_mod_nonexp", (void *)livepatch_fixture_mod_nonexp, 0 },
	{ 0 }
};

static struct klp_object objs[] = {
	{ 0, vmlinux_funcs },
	{ "fixture_mod", fixture_mod_funcs },
	{ 0 }
};

static struct klp_patch patch = { THIS_MODULE, objs };

static int __init livepatch_fixture_init(void)
{
	return klp_enable_patch(&patch);
}

static void __exit livepatch_fixture_exit(void)
{
}

module_init(livepatch_fixture_init);
module_exit(livepatch_fixture_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
