// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-e2e-vmlinux: a livepatch whose new code uses vmlinux symbols that are
 * not exported, each defined once in vmlinux:
 *
 *   saved_command_line    global data          (address-of and load)
 *   max_threads           static data, fork.c  (load and address-of)
 *   kallsyms_lookup_name  global function      (call)
 *
 * The module loader cannot resolve them, so the module as built must fail
 * with "Unknown symbol".  After `klp convert` they are .klp.sym.vmlinux.*
 * symbols that livepatch resolves.  The replacement of cmdline_proc_show()
 * prints what the module sees; the test compares it with /proc/kallsyms and
 * /proc/sys/kernel/threads-max in the guest:
 *
 *   klp-e2e vmlinux: max_threads=N max_threads@ADDR saved_command_line@ADDR
 *   kallsyms_lookup_name@ADDR lookup_ok=1 cmdline=...
 *
 * lookup_ok=1 means the call through the converted kallsyms_lookup_name
 * returned the address livepatch wrote for saved_command_line.
 *
 * Built with -DKLP_E2E_UNREGISTERED='"NAME"' it also prints the address of
 * binfmt_misc's static object NAME but registers no klp_object for
 * binfmt_misc: the kernel would never apply that relocation (the code would
 * use address 0), so `klp convert` must refuse the module.
 *
 * Built with -DKLP_E2E_INIT it also prints the start of boot_command_line,
 * which init/main.c keeps in __initdata, freed after boot, and the address
 * of the per-CPU runqueues, whose template some architectures link inside
 * init memory: `klp convert` must refuse the first and accept the second.
 *
 * Built with -DKLP_E2E_LOADAVG it also replaces loadavg_proc_show, which on
 * some kernels is followed by the body of an overridden __weak function: where
 * that puts a second ftrace call site in its kallsyms range and none at its
 * address, `klp convert` must refuse it (the kernel may hook the other one).
 */
#include <linux/init.h>
#include <linux/kallsyms.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#ifdef KLP_E2E_UNREGISTERED
#include <klp-reloc.h>

extern char klp_e2e_bm_data[] __asm__(KLP_E2E_UNREGISTERED);
static KLP_MODULE_RELOC(binfmt_misc) klp_e2e_bm_relocs[] = {
	KLP_SYMPOS(klp_e2e_bm_data, 0),
};
#endif

#ifdef KLP_E2E_INIT
extern char klp_e2e_boot_command_line[] __asm__("boot_command_line");
extern char klp_e2e_runqueues[] __asm__("runqueues");
#endif

/* asm labels: the ELF names, without relying on kernel headers declaring them */
extern int klp_e2e_max_threads __asm__("max_threads");
extern char *klp_e2e_saved_command_line __asm__("saved_command_line");
extern unsigned long klp_e2e_lookup_name(const char *name) __asm__("kallsyms_lookup_name");

static int klp_e2e_cmdline_show(struct seq_file *m, void *v)
{
	unsigned long found = klp_e2e_lookup_name("saved_command_line");

	seq_printf(m, "klp-e2e vmlinux: max_threads=%d max_threads@%px", klp_e2e_max_threads,
		   &klp_e2e_max_threads);
	seq_printf(m, " saved_command_line@%px kallsyms_lookup_name@%px lookup_ok=%d",
		   &klp_e2e_saved_command_line, klp_e2e_lookup_name,
		   found == (unsigned long)&klp_e2e_saved_command_line);
#ifdef KLP_E2E_UNREGISTERED
	seq_printf(m, " binfmt_misc.data@%px", klp_e2e_bm_data);
#endif
#ifdef KLP_E2E_INIT
	seq_printf(m, " runqueues@%px boot_command_line=%.8s", klp_e2e_runqueues,
		   klp_e2e_boot_command_line);
#endif
	seq_printf(m, " cmdline=%s\n", klp_e2e_saved_command_line);
	return 0;
}

#ifdef KLP_E2E_LOADAVG
static int klp_e2e_loadavg_show(struct seq_file *m, void *v)
{
	seq_puts(m, "klp-e2e loadavg\n");
	return 0;
}
#endif

static struct klp_func klp_e2e_funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = klp_e2e_cmdline_show },
#ifdef KLP_E2E_LOADAVG
	{ .old_name = "loadavg_proc_show", .new_func = klp_e2e_loadavg_show },
#endif
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
MODULE_DESCRIPTION("klp e2e: non-exported unique vmlinux function and data");
MODULE_INFO(livepatch, "Y");
