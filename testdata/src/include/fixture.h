/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Stand-ins for the few kernel macros the klp test fixtures need.  The
 * fixtures are freestanding: no libc, no kernel headers.  Everything here is
 * written for the fixtures; it only mimics the *shape* of what the kernel
 * emits (section names, symbol names), not its implementation.
 */
#ifndef FIXTURE_H
#define FIXTURE_H

#define __used		__attribute__((__used__))
#define __section(s)	__attribute__((__section__(s)))
#define __cold		__attribute__((__cold__))
/* noinline + noclone keeps static names stable (no .isra/.constprop clones) */
#define fx_noinline	__attribute__((__noinline__, __noclone__))

#define __init		__section(".init.text") __cold
#define __initdata	__section(".init.data")
#define __exit		__section(".exit.text") __cold
#define __read_mostly	__section(".data..read_mostly")

/*
 * Exports, shaped like a pre-6.5 kernel: a `__ksymtab_<sym>` entry in section
 * `___ksymtab+<sym>` (EXPORT_SYMBOL) or `___ksymtab_gpl+<sym>`
 * (EXPORT_SYMBOL_GPL), the name in `__kstrtab_<sym>` and the namespace in
 * `__kstrtabns_<sym>`, both in `__ksymtab_strings`.  testdata/build.sh reads
 * these back from the objects to write Module.symvers, as modpost would.
 */
struct fixture_kernel_symbol {
	unsigned long value;
	const char *name;
	const char *namespace;
};

#define __FIXTURE_EXPORT(sym, sec, ns)					\
	static const char __kstrtab_##sym[]				\
	__used __section("__ksymtab_strings") __attribute__((__aligned__(1))) = #sym; \
	static const char __kstrtabns_##sym[]				\
	__used __section("__ksymtab_strings") __attribute__((__aligned__(1))) = ns; \
	static const struct fixture_kernel_symbol __ksymtab_##sym	\
	__used __section("___ksymtab" sec "+" #sym) __attribute__((__aligned__(8))) = \
	{ (unsigned long)&sym, __kstrtab_##sym, __kstrtabns_##sym }

#define EXPORT_SYMBOL(sym)		__FIXTURE_EXPORT(sym, "", "")
#define EXPORT_SYMBOL_GPL(sym)		__FIXTURE_EXPORT(sym, "_gpl", "")
#define EXPORT_SYMBOL_NS_GPL(sym, ns)	__FIXTURE_EXPORT(sym, "_gpl", #ns)

#ifdef MODULE
/* .modinfo strings, as MODULE_INFO() places them */
#define __FX_CAT2(a, b)	a##b
#define __FX_CAT(a, b)	__FX_CAT2(a, b)
#define MODULE_INFO(tag, info)						\
	static const char __FX_CAT(__modinfo_##tag##_, __LINE__)[]	\
	__used __section(".modinfo") __attribute__((__aligned__(1))) = #tag "=" info
#define MODULE_LICENSE(l)	MODULE_INFO(license, l)

#define module_init(fn)	int init_module(void) __attribute__((__copy__(fn), __alias__(#fn)))
#define module_exit(fn)	void cleanup_module(void) __attribute__((__copy__(fn), __alias__(#fn)))

/*
 * struct klp_func / klp_object / klp_patch, shaped like the kernel's: the
 * leading fields the kernel reads, then room for its internal fields (the
 * sizes are the fixtures' own, so readers cannot assume the kernel's).
 */
struct klp_func {
	const char *old_name;
	void *new_func;
	unsigned long old_sympos;
	unsigned long internal[3];
};

struct klp_object {
	const char *name;		/* NULL means vmlinux */
	struct klp_func *funcs;
	void *callbacks[4];
	unsigned long internal[5];
};

struct klp_patch {
	void *mod;			/* THIS_MODULE */
	struct klp_object *objs;
	void *states;
	unsigned long internal[2];
};

/* modpost's <module>.mod.c defines it (testdata/src/modpost/mod.c) */
extern struct fixture_module __this_module;
#define THIS_MODULE	((void *)&__this_module)

#if defined(__powerpc64__)
/* ppc64 modules carry an empty `.stubs` section; the loader sizes it. */
__asm__(".section .stubs,\"ax\",@nobits; .balign 8; .previous");
#endif
#endif /* MODULE */

#endif /* FIXTURE_H */
