// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-sample-nonexp: a livepatch for the tiny test kernel whose new code uses
 * vmlinux symbols that are not exported, so the module loader cannot resolve
 * them and `klp convert` must turn them into .klp.rela/.klp.sym entries.
 *
 * Defined once in vmlinux (position 0):
 *   max_threads          static int of kernel/fork.c        (load, address)
 *   saved_command_line   global char * of init/main.c       (load, address)
 *   kallsyms_lookup_name global function                     (call)
 *
 * Defined several times in vmlinux, so the KLP_MODULE_RELOC(vmlinux) table
 * below names the copy it means by the kernel's position (sympos):
 *   s_next           static functions; the copy of kernel/trace/trace_events.c
 *   trace_module_nb  static notifier blocks of trace.c and trace_events.c; the
 *                    trace_events.c one, whose priority is 1 (trace.c's is 0)
 *   set_root         a static function of fs/namei.c and a static object of
 *                    kernel/ucount.c, counted together; the ucount.c object,
 *                    which comes first in vmlinux's .symtab but last by address
 *
 * The positions depend on how the kernel was linked: `klp symdb query NAME`
 * lists each copy with its position and source file.  The three #defines
 * below are for the tiny test kernel; tests/e2e/kernel/ rewrites them with the
 * positions it reads from the tree's System.map.
 *
 * The replacement of cmdline_proc_show() (/proc/cmdline) prints what the
 * module was bound to, as one line (KBUILD_MODNAME tells the in-tree build
 * from the external one):
 *
 *   <module>: max_threads=N max_threads@ADDR saved_command_line@ADDR
 *   kallsyms_lookup_name@ADDR lookup_ok=1 s_next@ADDR trace_module_nb@ADDR
 *   priority=1 set_root@ADDR
 */
#include <linux/init.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/notifier.h>
#include <linux/seq_file.h>

#include "klp-reloc.h"

#define KLP_SAMPLE_POS_S_NEXT 3
#define KLP_SAMPLE_POS_TRACE_MODULE_NB 2
#define KLP_SAMPLE_POS_SET_ROOT 2

/* asm labels: the ELF names, with C names that clash with no kernel header */
extern int klp_max_threads __asm__("max_threads");
extern char *klp_saved_command_line __asm__("saved_command_line");
extern unsigned long klp_lookup_name(const char *name) __asm__("kallsyms_lookup_name");
extern char klp_s_next[] __asm__("s_next");
extern struct notifier_block klp_trace_module_nb __asm__("trace_module_nb");
extern char klp_set_root[] __asm__("set_root");

static KLP_MODULE_RELOC(vmlinux) klp_sample_vmlinux_relocs[] = {
	KLP_SYMPOS(klp_s_next, KLP_SAMPLE_POS_S_NEXT),
	KLP_SYMPOS(klp_trace_module_nb, KLP_SAMPLE_POS_TRACE_MODULE_NB),
	KLP_SYMPOS(klp_set_root, KLP_SAMPLE_POS_SET_ROOT),
};

static int klp_sample_cmdline_show(struct seq_file *m, void *v)
{
	unsigned long found = klp_lookup_name("saved_command_line");

	seq_printf(m, "%s: max_threads=%d max_threads@%px", KBUILD_MODNAME, klp_max_threads,
		   &klp_max_threads);
	seq_printf(m, " saved_command_line@%px kallsyms_lookup_name@%px lookup_ok=%d",
		   &klp_saved_command_line, klp_lookup_name,
		   found == (unsigned long)&klp_saved_command_line);
	seq_printf(m, " s_next@%px trace_module_nb@%px priority=%d set_root@%px\n",
		   klp_s_next, &klp_trace_module_nb, klp_trace_module_nb.priority,
		   klp_set_root);
	return 0;
}

static struct klp_func klp_sample_funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = klp_sample_cmdline_show },
	{ }
};

static struct klp_object klp_sample_objs[] = {
	{ .name = NULL /* vmlinux */, .funcs = klp_sample_funcs },
	{ }
};

static struct klp_patch klp_sample_patch = {
	.mod = THIS_MODULE,
	.objs = klp_sample_objs,
};

static int __init klp_sample_init(void)
{
	return klp_enable_patch(&klp_sample_patch);
}

static void __exit klp_sample_exit(void)
{
}

module_init(klp_sample_init);
module_exit(klp_sample_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klp sample: non-exported and ambiguous vmlinux symbols");
MODULE_INFO(livepatch, "Y");
