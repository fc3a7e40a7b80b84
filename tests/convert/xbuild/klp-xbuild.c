// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-xbuild: a livepatch for the loadable module isofs, cross-built for
 * arm64, ppc64el and s390x against Debian's linux-headers packages, then
 * converted by `klp convert` and checked against the kernel's rules with
 * readelf (tests/convert/test_xbuild.py).  It replaces isofs_show_options()
 * and references, in the ways each architecture's compiler turns into
 * different relocation types:
 *
 *   isofs_name_translate  isofs global function, not exported   call
 *   isofs_bread           isofs global function, not exported   call from a wrapper
 *                                                               (a tail call on s390x)
 *   isofs_inode_cachep    isofs static pointer                  load
 *   isofs_dir_operations  isofs global object, not exported     address in code and data
 *   isofs_sops            isofs static object                   address in data
 *   tokens                static option table of isofs, and of many other
 *                         modules: KLP_MODULE_RELOC(isofs)      address in code
 *   init_once             static function of isofs and of other modules:
 *                         KLP_MODULE_RELOC(isofs)               address in data
 *   kmem_cache_alloc, kmem_cache_free, seq_printf, __brelse, jiffies
 *                         exported by vmlinux: stay normal relocations
 *
 * With -DKLP_XBUILD_VMLINUX (ppc64el, the one image that ships a vmlinux with
 * a symbol table, so its symdb knows vmlinux):
 *
 *   kallsyms_lookup_name  vmlinux function, not exported         call
 *   max_threads           vmlinux static int                     load and address
 *
 * The isofs names are unique in the kernel except tokens and init_once, whose
 * positions come from the build line (the test counts them in isofs.ko).
 */
#include <linux/buffer_head.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#include <klp-reloc.h>

#if !defined(KLP_XBUILD_POS_TOKENS) || !defined(KLP_XBUILD_POS_INIT_ONCE)
#error "pass -DKLP_XBUILD_POS_TOKENS=.. -DKLP_XBUILD_POS_INIT_ONCE=.."
#endif

/* asm labels: isofs's ELF names, without its private header */
extern int klp_xb_name_translate(void *record, char *out, struct inode *inode)
	__asm__("isofs_name_translate");
extern struct buffer_head *klp_xb_isofs_bread(struct inode *inode, sector_t block)
	__asm__("isofs_bread");
extern struct kmem_cache *klp_xb_inode_cachep __asm__("isofs_inode_cachep");
extern const struct file_operations klp_xb_dir_operations __asm__("isofs_dir_operations");
extern const struct super_operations klp_xb_sops __asm__("isofs_sops");
extern const char klp_xb_tokens[] __asm__("tokens");
extern void klp_xb_init_once(void *object) __asm__("init_once");

static KLP_MODULE_RELOC(isofs) klp_xb_isofs_relocs[] = {
	KLP_SYMPOS(klp_xb_tokens, KLP_XBUILD_POS_TOKENS),
	KLP_SYMPOS(klp_xb_init_once, KLP_XBUILD_POS_INIT_ONCE),
};

#ifdef KLP_XBUILD_VMLINUX
extern unsigned long klp_xb_lookup_name(const char *name) __asm__("kallsyms_lookup_name");
extern int klp_xb_max_threads __asm__("max_threads");
#endif

/* isofs addresses in (read-only) data: absolute 64-bit relocations */
static const void *const klp_xb_table[] = {
	&klp_xb_dir_operations, &klp_xb_sops, klp_xb_init_once,
};

static noinline struct buffer_head *klp_xb_bread(struct inode *inode, sector_t block)
{
	return klp_xb_isofs_bread(inode, block);	/* sibling call where the ABI allows */
}

static int klp_xb_show_options(struct seq_file *m, struct dentry *root)
{
	struct inode *inode = d_inode(root);
	struct buffer_head *bh = klp_xb_bread(inode, 0);
	char name[256] = "";
	void *scratch;
	int len = 0;

	scratch = kmem_cache_alloc(klp_xb_inode_cachep, GFP_KERNEL);
	if (scratch && bh) {
		len = klp_xb_name_translate(bh->b_data, name, inode);
		kmem_cache_free(klp_xb_inode_cachep, scratch);
	}
	brelse(bh);
	seq_printf(m, ",klp_xbuild=%d:%s,tokens=%px,dir_ops=%px,entry=%px", len, name,
		   klp_xb_tokens, &klp_xb_dir_operations,
		   klp_xb_table[jiffies % ARRAY_SIZE(klp_xb_table)]);
#ifdef KLP_XBUILD_VMLINUX
	seq_printf(m, ",max_threads=%d@%px,lookup=%lx", klp_xb_max_threads,
		   &klp_xb_max_threads, klp_xb_lookup_name("isofs_sops"));
#endif
	return 0;
}

static struct klp_func klp_xb_funcs[] = {
	{ .old_name = "isofs_show_options", .new_func = klp_xb_show_options },
	{ }
};

static struct klp_object klp_xb_objs[] = {
	{ .name = "isofs", .funcs = klp_xb_funcs },
	{ }
};

/* __used: without klp_enable_patch() below, nothing else would keep it (and its objects) */
static struct klp_patch klp_xb_patch __used = {
	.mod = THIS_MODULE,
	.objs = klp_xb_objs,
};

static int __init klp_xb_init(void)
{
#ifdef KLP_XBUILD_NO_LIVEPATCH
	return -EOPNOTSUPP;	/* a kernel without CONFIG_LIVEPATCH has no klp_enable_patch() */
#else
	return klp_enable_patch(&klp_xb_patch);
#endif
}

static void __exit klp_xb_exit(void)
{
}

module_init(klp_xb_init);
module_exit(klp_xb_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klp convert cross-build fixture: a livepatch of isofs");
MODULE_INFO(livepatch, "Y");
