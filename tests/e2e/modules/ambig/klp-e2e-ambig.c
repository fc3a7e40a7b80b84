// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-e2e-ambig: a livepatch that uses vmlinux names defined several times
 * (static symbols of different files), so `klp convert` needs to be told
 * which copy is meant.  A KLP_MODULE_RELOC(vmlinux) annotation gives the
 * kernel's position (sympos) of each.  The names and positions come from the
 * build command line, because the test picks names that the kernel has and
 * reads the positions from its System.map:
 *
 *   KLP_E2E_FUNC   static functions (several seq_file iterators, s_next)
 *   KLP_E2E_DATA   static objects (hash_lock, trace_module_nb)
 *   KLP_E2E_MIXED  one static function and static objects (set_root), which
 *                  livepatch counts together
 *
 * The data name is annotated the other way klp reads, KLP_RELOC_SYMBOL_POS
 * (the later "minimal" klp-convert proposal), which needs it as a bare token
 * too (KLP_E2E_DATA_NAME).  So is KLP_E2E_LOCAL_NAME, a static variable
 * inside a function, which GCC names <variable>.<N>: no C name can say it,
 * and `klp convert` suggests exactly this line for it.
 *
 * For one of them the ELF .symtab order is not address order, and sympos
 * counts by address.  The replacement of version_proc_show() (/proc/version)
 * prints the address bound to each name, to be compared with /proc/kallsyms
 * in the guest:
 *
 *   klp-e2e ambig: func@ADDR data@ADDR mixed@ADDR local@ADDR
 */
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>

#include <klp-reloc.h>

#if !defined(KLP_E2E_FUNC) || !defined(KLP_E2E_DATA_NAME) || !defined(KLP_E2E_MIXED) || \
	!defined(KLP_E2E_LOCAL_NAME) || !defined(KLP_E2E_POS_FUNC) || \
	!defined(KLP_E2E_POS_DATA) || !defined(KLP_E2E_POS_MIXED) || !defined(KLP_E2E_POS_LOCAL)
#error "pass -DKLP_E2E_FUNC='\"NAME\"' -DKLP_E2E_POS_FUNC=.., the same for MIXED, \
-DKLP_E2E_DATA_NAME=NAME and -DKLP_E2E_POS_DATA=.., the same for LOCAL"
#endif

/* asm labels: the ELF names of the statics, with C names that clash with nothing */
extern char klp_e2e_func[] __asm__(KLP_E2E_FUNC);
extern char klp_e2e_mixed[] __asm__(KLP_E2E_MIXED);

static KLP_MODULE_RELOC(vmlinux) klp_e2e_vmlinux_relocs[] = {
	KLP_SYMPOS(klp_e2e_func, KLP_E2E_POS_FUNC),
	KLP_SYMPOS(klp_e2e_mixed, KLP_E2E_POS_MIXED),
};

/* KLP_RELOC_SYMBOL_POS takes its name and position as written: expand them first */
#define KLP_E2E_RELOC_SYMBOL(name, pos) KLP_RELOC_SYMBOL_POS(vmlinux, vmlinux, name, pos)
extern char klp_e2e_data[] KLP_E2E_RELOC_SYMBOL(KLP_E2E_DATA_NAME, KLP_E2E_POS_DATA);
extern char klp_e2e_local[] KLP_E2E_RELOC_SYMBOL(KLP_E2E_LOCAL_NAME, KLP_E2E_POS_LOCAL);

static int klp_e2e_version_show(struct seq_file *m, void *v)
{
	seq_printf(m, "klp-e2e ambig: func@%px data@%px mixed@%px local@%px\n",
		   klp_e2e_func, klp_e2e_data, klp_e2e_mixed, klp_e2e_local);
	return 0;
}

static struct klp_func klp_e2e_funcs[] = {
	{ .old_name = "version_proc_show", .new_func = klp_e2e_version_show },
	{ }
};

static struct klp_object klp_e2e_objs[] = {
	{ .name = NULL /* vmlinux */, .funcs = klp_e2e_funcs },
	{ }
};

static struct klp_patch klp_e2e_patch = {
	.mod = THIS_MODULE,
	.objs = klp_e2e_objs,
};

static int __init klp_e2e_init(void)
{
	return klp_enable_patch(&klp_e2e_patch);
}

static void __exit klp_e2e_exit(void)
{
}

module_init(klp_e2e_init);
module_exit(klp_e2e_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klp e2e: ambiguous vmlinux names chosen by KLP_SYMPOS and KLP_RELOC_SYMBOL_POS");
MODULE_INFO(livepatch, "Y");
