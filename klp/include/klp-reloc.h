/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * klp-reloc.h - tell `klp convert` which copy of an ambiguous symbol a
 * livepatch module means.
 *
 * When a name exists more than once in the patched object (two `static`
 * variables called `count` in different files of vmlinux, for example), the
 * converter cannot guess which one the livepatch refers to.  Name the object
 * and the kernel's symbol position (sympos) of the wanted copy:
 *
 *	#include <klp-reloc.h>
 *
 *	extern int count;		// the livepatch uses it as usual
 *
 *	KLP_MODULE_RELOC(vmlinux) my_vmlinux_relocs[] = {
 *		KLP_SYMPOS(count, 2),	// the 2nd `count` of vmlinux
 *	};
 *	KLP_MODULE_RELOC(my_driver) my_driver_relocs[] = {
 *		KLP_SYMPOS(helper, 0),	// unique in module my_driver
 *	};
 *
 * The object is `vmlinux` or a module name as the kernel spells it (`-`
 * becomes `_`).  The position follows the kernel's livepatch rules: 0 means
 * "the name is unique in that object", N >= 1 means "the N-th copy", counted
 * by ascending address for vmlinux (the order of /proc/kallsyms) and in
 * symbol-table order of the .ko for modules.  `klp symdb` lists the
 * candidates and `klp convert` prints them when a name is ambiguous.
 *
 * Each KLP_MODULE_RELOC(obj) array goes into an ELF section named
 * `.klp.module_relocs.<obj>`.  An entry is 12 bytes, packed: an 8-byte slot
 * holding the symbol's address (the compiler emits one absolute 64-bit
 * relocation per entry, e.g. R_X86_64_64, R_AARCH64_ABS64, R_PPC64_ADDR64,
 * R_390_64) followed by the 32-bit position.  The layout is the same on every
 * architecture and matches the klp-convert v7 proposal.  `klp convert` reads
 * these sections and then deletes them, with their relocations and symbols,
 * so nothing of them reaches the final module.
 *
 * Several arrays may name the same object; their entries are combined.  The
 * arrays are global by default (like the v7 proposal); write
 * `static KLP_MODULE_RELOC(obj) name[] = { ... };` to keep the array name
 * local.
 *
 * In a livepatch of several source files, each file may annotate a name for
 * the copy it needs (core.c the 2nd `count`, util.c the 3rd): klp convert
 * then gives each file's uses their own klp symbol.  It tells the files apart
 * by their local symbols and, for code, by the DWARF compile units of a -g
 * build, so such arrays must be static, and without -g the uses must sit in
 * static functions or objects.  The header needs no kernel headers and compiles with or without
 * them.  If the kernel's own <linux/livepatch.h> already defines these
 * macros (kernels carrying the klp-convert patches), that definition is used.
 *
 * The other way to say it, from the later "minimal" klp-convert proposal
 * (SUSE's kernels define it), names the choice in the declaration itself:
 *
 *	extern int count KLP_RELOC_SYMBOL_POS(vmlinux, vmlinux, count, 2);
 *	extern int helper(int) KLP_RELOC_SYMBOL(my_driver, my_driver, helper);
 *
 * The arguments are the object whose klp section applies the relocations
 * (the object the patched code belongs to), the object that defines the
 * symbol, the symbol and its position (KLP_RELOC_SYMBOL: 0).  The symbol's
 * ELF name becomes `.klp.sym.rela.<object>.<object>.<symbol>.<position>`
 * (v3 of the proposal; a `,` before the position, as v1 and v2 write it, is
 * read too, but some assemblers cannot take a `,` in an operand, such as
 * x86's with `@PLT`).  The position is what follows the last `.`, so names
 * with dots work: that is how a livepatch names a static variable inside a
 * function, which GCC calls `count.0` and clang `<function>.count` (`klp
 * convert` lists them when it cannot find `count`).  A vmlinux symbol always
 * goes in vmlinux's klp section: the kernel refuses it in a module's.
 */
#ifndef KLP_RELOC_H
#define KLP_RELOC_H

#ifndef KLP_MODULE_RELOC

struct klp_module_reloc {
	union {
		void *sym;
		unsigned long long sym64;	/* keep 8 bytes on 32-bit targets */
	};
	unsigned int sympos;
} __attribute__((__packed__));

_Static_assert(sizeof(struct klp_module_reloc) == 12,
	       "struct klp_module_reloc must be 12 bytes");

#define KLP_MODULE_RELOC(obj)						\
	struct klp_module_reloc						\
	__attribute__((__used__, __aligned__(4),			\
		       __section__(".klp.module_relocs." #obj)))

#define KLP_SYMPOS(symbol, pos)						\
	{ .sym = (void *)&(symbol), .sympos = (pos) }

#endif /* KLP_MODULE_RELOC */

#ifndef KLP_RELOC_SYMBOL_POS
#define KLP_RELOC_SYMBOL_POS(gate, obj, symbol, pos)			\
	__asm__("\".klp.sym.rela." #gate "." #obj "." #symbol "." #pos "\"")
#endif

#ifndef KLP_RELOC_SYMBOL
#define KLP_RELOC_SYMBOL(gate, obj, symbol)				\
	KLP_RELOC_SYMBOL_POS(gate, obj, symbol, 0)
#endif

#endif /* KLP_RELOC_H */
