// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-e2e-binfmt: a livepatch for the loadable module binfmt_misc, so its
 * converted relocations go to .klp.rela.binfmt_misc.* sections.  It replaces
 * bm_status_read() (what reading <binfmt_misc mount>/status returns) and uses
 * binfmt_misc symbols that are not exported; the build line names them,
 * because binfmt_misc's statics differ between kernels (the test reads them
 * from the kernel's files):
 *
 *   KLP_E2E_DATA   a static object, unique in the kernel      (address-of)
 *   KLP_E2E_FUNC   a static function, unique                  (address-of)
 *   scanarg        static function, unique                    (call)
 *   KLP_E2E_OPS    its static super_operations; on Debian sunrpc has an s_ops
 *                  too, so a KLP_MODULE_RELOC(binfmt_misc) annotation picks the
 *                  binfmt_misc copy (its position comes from the build line)
 *
 * and, before 6.7, its statics enabled (load) and entries (KLP_E2E_DATA, the
 * list it reads); 6.7 keeps both per user namespace, the first mount's in
 * vmlinux's init_binfmt_misc, and there the patch reads the name of
 * KLP_E2E_DATA, bm_fs_type (load).
 *
 * The patch can be loaded before or after binfmt_misc.  Reading status then
 * gives:
 *
 *   klp-e2e binfmt: enabled=1 entries_empty=1 data@ADDR func@ADDR ops@ADDR
 *   scanarg=ok fs=NAME
 *
 * enabled follows writes to status (bm_status_write is not patched), which
 * shows the module's live variable is read; the addresses are compared with
 * /proc/kallsyms; scanarg=ok shows the call into binfmt_misc worked
 * (scanarg("klp:ok", ':') returns the text after the ':').
 */
#include <linux/binfmts.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/version.h>

#include <klp-reloc.h>

#if !defined(KLP_E2E_POS_OPS) || !defined(KLP_E2E_DATA) || !defined(KLP_E2E_FUNC) || \
	!defined(KLP_E2E_OPS)
#error "pass -DKLP_E2E_POS_OPS=.., -DKLP_E2E_DATA='\"NAME\"', KLP_E2E_FUNC and KLP_E2E_OPS"
#endif

extern char klp_e2e_data[] __asm__(KLP_E2E_DATA);
extern char klp_e2e_func[] __asm__(KLP_E2E_FUNC);
extern char klp_e2e_ops[] __asm__(KLP_E2E_OPS);
extern char *klp_e2e_scanarg(char *s, char del) __asm__("scanarg");

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 7, 0)
extern int klp_e2e_enabled __asm__("enabled");
#define klp_e2e_is_enabled() READ_ONCE(klp_e2e_enabled)
#define klp_e2e_entries_empty() list_empty((struct list_head *)klp_e2e_data)
#define klp_e2e_fs() "-"
#else
#define klp_e2e_is_enabled() READ_ONCE(init_binfmt_misc.enabled)
/* a list_head before 7.x (6.12), an hlist_head with SRCU readers in 7.3 */
#define klp_e2e_entries_empty() _Generic(init_binfmt_misc.entries, \
	struct list_head: list_empty((struct list_head *)&init_binfmt_misc.entries), \
	default: hlist_empty((struct hlist_head *)&init_binfmt_misc.entries))
#define klp_e2e_fs() (((struct file_system_type *)klp_e2e_data)->name)
#endif

static KLP_MODULE_RELOC(binfmt_misc) klp_e2e_binfmt_relocs[] = {
	KLP_SYMPOS(klp_e2e_ops, KLP_E2E_POS_OPS),
};

static ssize_t klp_e2e_status_read(struct file *file, char __user *buf, size_t nbytes,
				   loff_t *ppos)
{
	char arg[] = "klp:ok";
	char *rest = klp_e2e_scanarg(arg, ':');
	char line[200];
	int len;

	len = scnprintf(line, sizeof(line),
			"klp-e2e binfmt: enabled=%d entries_empty=%d data@%px func@%px "
			"ops@%px scanarg=%s fs=%s\n",
			klp_e2e_is_enabled(), klp_e2e_entries_empty(), klp_e2e_data,
			klp_e2e_func, klp_e2e_ops, rest ? rest : "(null)", klp_e2e_fs());
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
