// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-e2e-modpatch: a livepatch of the module klp_e2e_target that uses, from
 * the replacement of target_show() (/proc/klp_e2e_target):
 *
 *   target_pick, target_count  the module's ambiguous static function and
 *                              object (two copies each), the copies chosen
 *                              by KLP_MODULE_RELOC(klp_e2e_target)
 *   target_branch              a call into the module (ppc64le: a stub and
 *                              the r2 restore after it; s390x: PLT32DBL)
 *   target_key                 the module's static key, switched on with
 *                              static_branch_enable(): the module's own
 *                              branch on it must follow
 *   sched_schedstats           a vmlinux static key the new code branches on
 *                              with static_branch_unlikely(): its __jump_table
 *                              entry is a klp relocation, applied when the
 *                              patch loads, before jump labels are set up
 *   max_threads                vmlinux data
 *
 * and tables of pointers to max_threads and target_count in writable data,
 * read-only data and .data..read_mostly: relocations in data sections, for
 * vmlinux (applied when the patch loads) and for the module (applied when it
 * loads).  Reading /proc/klp_e2e_target then prints
 *
 *   klp-e2e modpatch: pick=b count=b1 pick@ADDR count@ADDR branch=1
 *   target_key@ADDR schedstats=0|1 sched_schedstats@ADDR max_threads@ADDR
 *   data=ADDR,ADDR rodata=ADDR,ADDR read_mostly=ADDR,ADDR
 *
 * which the test compares with /proc/kallsyms and the module's symbol table.
 * The replacement of target_where_show() (/proc/klp_e2e_target_where) prints
 * the module addresses only, without touching them:
 *
 *   klp-e2e modpatch: where pick@ADDR count@ADDR target_key@ADDR
 *
 * Built with -DKLP_E2E_MODULE_KEY_BRANCH the new code also branches on
 * target_key itself: a __jump_table entry for a module's key, which the kernel
 * would process before the module is there, so `klp convert` refuses it.
 *
 * Built with -DKLP_E2E_WEAK it also replaces target_weak_show(), whose kallsyms
 * range holds the body of the module's overridden __weak target_hook() too:
 * where neither call site is at the function's address, `klp convert` must
 * refuse it.
 */
#include <linux/cache.h>
#include <linux/compiler.h>
#include <linux/jump_label.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>

#include <klp-reloc.h>

#if !defined(KLP_E2E_POS_PICK) || !defined(KLP_E2E_POS_COUNT)
#error "pass -DKLP_E2E_POS_PICK=.. -DKLP_E2E_POS_COUNT=.."
#endif

/* asm labels: the ELF names, with C names that clash with nothing */
extern int klp_e2e_target_pick(void) __asm__("target_pick");
extern int klp_e2e_target_count __asm__("target_count");
extern int klp_e2e_target_branch(void) __asm__("target_branch");
extern struct static_key_false klp_e2e_target_key __asm__("target_key");
extern struct static_key_false klp_e2e_schedstats __asm__("sched_schedstats");
extern int klp_e2e_max_threads __asm__("max_threads");

static KLP_MODULE_RELOC(klp_e2e_target) klp_e2e_target_relocs[] = {
	KLP_SYMPOS(klp_e2e_target_pick, KLP_E2E_POS_PICK),
	KLP_SYMPOS(klp_e2e_target_count, KLP_E2E_POS_COUNT),
};

/* .data on x86_64, .data.rel where modules are position-independent code */
static const void *klp_e2e_data[] = { &klp_e2e_max_threads, &klp_e2e_target_count };
/* .rodata on x86_64, .data.rel.ro (read-only once relocated) elsewhere */
static const void *const klp_e2e_rodata[] = { &klp_e2e_max_threads, &klp_e2e_target_count };
static const void *klp_e2e_read_mostly[] __read_mostly = {
	&klp_e2e_max_threads, &klp_e2e_target_count
};

/* a table's address, hidden from the optimiser: its entries are loaded from memory */
static const void *const *klp_e2e_table(const void *const *table)
{
	OPTIMIZER_HIDE_VAR(table);
	return table;
}

static int klp_e2e_target_show(struct seq_file *m, void *v)
{
	const void *const *data = klp_e2e_table(klp_e2e_data);
	const void *const *rodata = klp_e2e_table(klp_e2e_rodata);
	const void *const *read_mostly = klp_e2e_table(klp_e2e_read_mostly);

	static_branch_enable(&klp_e2e_target_key);
	seq_printf(m, "klp-e2e modpatch: pick=%x count=%x pick@%px count@%px branch=%d",
		   klp_e2e_target_pick(), READ_ONCE(klp_e2e_target_count), klp_e2e_target_pick,
		   &klp_e2e_target_count, klp_e2e_target_branch());
	seq_printf(m, " target_key@%px schedstats=%d sched_schedstats@%px max_threads@%px",
		   &klp_e2e_target_key, static_branch_unlikely(&klp_e2e_schedstats) ? 1 : 0,
		   &klp_e2e_schedstats, &klp_e2e_max_threads);
	seq_printf(m, " data=%px,%px rodata=%px,%px read_mostly=%px,%px", data[0], data[1],
		   rodata[0], rodata[1], read_mostly[0], read_mostly[1]);
#ifdef KLP_E2E_MODULE_KEY_BRANCH
	if (static_branch_unlikely(&klp_e2e_target_key))
		seq_puts(m, " own-branch");
#endif
	seq_puts(m, "\n");
	return 0;
}

static int klp_e2e_where_show(struct seq_file *m, void *v)
{
	seq_printf(m, "klp-e2e modpatch: where pick@%px count@%px target_key@%px\n",
		   klp_e2e_target_pick, &klp_e2e_target_count, &klp_e2e_target_key);
	return 0;
}

#ifdef KLP_E2E_WEAK
static int klp_e2e_weak_show(struct seq_file *m, void *v)
{
	seq_puts(m, "klp-e2e modpatch: weak\n");
	return 0;
}
#endif

static struct klp_func klp_e2e_funcs[] = {
	{ .old_name = "target_show", .new_func = klp_e2e_target_show },
	{ .old_name = "target_where_show", .new_func = klp_e2e_where_show },
#ifdef KLP_E2E_WEAK
	{ .old_name = "target_weak_show", .new_func = klp_e2e_weak_show },
#endif
	{ }
};

/* vmlinux patches no function, but the patch has relocations for it */
static struct klp_func klp_e2e_no_funcs[] = {
	{ }
};

static struct klp_object klp_e2e_objs[] = {
	{ .name = NULL /* vmlinux */, .funcs = klp_e2e_no_funcs },
	{ .name = "klp_e2e_target", .funcs = klp_e2e_funcs },
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
MODULE_DESCRIPTION("klp e2e: patch of the module klp_e2e_target (ambiguous statics, static keys, data)");
MODULE_INFO(livepatch, "Y");
