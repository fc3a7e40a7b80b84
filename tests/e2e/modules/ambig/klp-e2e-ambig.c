// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-e2e-ambig: a livepatch that uses vmlinux names defined several times
 * (static symbols of different files), so `klp convert` needs to be told
 * which copy is meant.  A KLP_MODULE_RELOC(vmlinux) annotation gives the
 * kernel's position (sympos) of each; the positions come from the build
 * command line because the test reads them from the kernel's System.map:
 *
 *   s_next     static functions (several seq_file iterators)
 *   hash_lock  static spinlocks; the ELF .symtab lists them in the opposite
 *              of address order, and sympos counts by address
 *   set_root   one static function and several static objects, which
 *              livepatch counts together
 *
 * The replacement of version_proc_show() (/proc/version) prints the address
 * bound to each name, to be compared with /proc/kallsyms in the guest:
 *
 *   klp-e2e ambig: s_next@ADDR hash_lock@ADDR set_root@ADDR
 */
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>

#include <klp-reloc.h>

#if !defined(KLP_E2E_POS_S_NEXT) || !defined(KLP_E2E_POS_HASH_LOCK) || \
	!defined(KLP_E2E_POS_SET_ROOT)
#error "pass -DKLP_E2E_POS_S_NEXT=.. -DKLP_E2E_POS_HASH_LOCK=.. -DKLP_E2E_POS_SET_ROOT=.."
#endif

/* asm labels: the ELF names of the statics, with C names that clash with nothing */
extern char klp_e2e_s_next[] __asm__("s_next");
extern char klp_e2e_hash_lock[] __asm__("hash_lock");
extern char klp_e2e_set_root[] __asm__("set_root");

static KLP_MODULE_RELOC(vmlinux) klp_e2e_vmlinux_relocs[] = {
	KLP_SYMPOS(klp_e2e_s_next, KLP_E2E_POS_S_NEXT),
	KLP_SYMPOS(klp_e2e_hash_lock, KLP_E2E_POS_HASH_LOCK),
	KLP_SYMPOS(klp_e2e_set_root, KLP_E2E_POS_SET_ROOT),
};

static int klp_e2e_version_show(struct seq_file *m, void *v)
{
	seq_printf(m, "klp-e2e ambig: s_next@%px hash_lock@%px set_root@%px\n",
		   klp_e2e_s_next, klp_e2e_hash_lock, klp_e2e_set_root);
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
MODULE_DESCRIPTION("klp e2e: ambiguous vmlinux names chosen by KLP_SYMPOS");
MODULE_INFO(livepatch, "Y");
