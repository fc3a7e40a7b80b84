// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-e2e-binfmt: a livepatch for the loadable module binfmt_misc, so its
 * converted relocations go to .klp.rela.binfmt_misc.* sections.  It replaces
 * bm_status_read() (what reading <binfmt_misc mount>/status returns) and uses
 * binfmt_misc symbols that are not exported:
 *
 *   enabled        static int, unique in the kernel          (load)
 *   entries        static list head, unique                  (address-of)
 *   bm_entry_read  static function, unique                   (address-of)
 *   scanarg        static function, unique                   (call)
 *   s_ops          static object; sunrpc has one of the same name, so a
 *                  KLP_MODULE_RELOC(binfmt_misc) annotation picks the
 *                  binfmt_misc copy (its position comes from the build line)
 *
 * The patch can be loaded before or after binfmt_misc.  Reading status then
 * gives:
 *
 *   klp-e2e binfmt: enabled=1 entries_empty=1 entries@ADDR bm_entry_read@ADDR
 *   s_ops@ADDR scanarg=ok
 *
 * enabled follows writes to status (bm_status_write is not patched), which
 * shows the module's live variable is read; the addresses are compared with
 * /proc/kallsyms; scanarg=ok shows the call into binfmt_misc worked
 * (scanarg("klp:ok", ':') returns the text after the ':').
 */
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/livepatch.h>
#include <linux/module.h>

#include <klp-reloc.h>

#ifndef KLP_E2E_POS_S_OPS
#error "pass -DKLP_E2E_POS_S_OPS=.."
#endif

extern int klp_e2e_enabled __asm__("enabled");
extern struct list_head klp_e2e_entries __asm__("entries");
extern char klp_e2e_bm_entry_read[] __asm__("bm_entry_read");
extern char klp_e2e_s_ops[] __asm__("s_ops");
extern char *klp_e2e_scanarg(char *s, char del) __asm__("scanarg");

static KLP_MODULE_RELOC(binfmt_misc) klp_e2e_binfmt_relocs[] = {
	KLP_SYMPOS(klp_e2e_s_ops, KLP_E2E_POS_S_OPS),
};

static ssize_t klp_e2e_status_read(struct file *file, char __user *buf, size_t nbytes,
				   loff_t *ppos)
{
	char arg[] = "klp:ok";
	char *rest = klp_e2e_scanarg(arg, ':');
	char line[200];
	int len;

	len = scnprintf(line, sizeof(line),
			"klp-e2e binfmt: enabled=%d entries_empty=%d entries@%px "
			"bm_entry_read@%px s_ops@%px scanarg=%s\n",
			READ_ONCE(klp_e2e_enabled), list_empty(&klp_e2e_entries),
			&klp_e2e_entries, klp_e2e_bm_entry_read, klp_e2e_s_ops,
			rest ? rest : "(null)");
	return simple_read_from_buffer(buf, nbytes, ppos, line, len);
}

static struct klp_func klp_e2e_funcs[] = {
	{ .old_name = "bm_status_read", .new_func = klp_e2e_status_read },
	{ }
};

static struct klp_object klp_e2e_objs[] = {
	{ .name = "binfmt_misc", .funcs = klp_e2e_funcs },
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
MODULE_DESCRIPTION("klp e2e: patch of the loadable module binfmt_misc");
MODULE_INFO(livepatch, "Y");
