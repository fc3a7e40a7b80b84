// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-e2e-inlined: a livepatch of a function the compiler also inlined.
 *
 * Debian 6.1's kernel/sys.c keeps do_getpgid() out of line for getpgid(2) and
 * inlines it into getpgrp(2), __do_sys_getpgrp(). This patch replaces
 * do_getpgid() with a copy that counts its calls, and cmdline_proc_show() with
 * a report that calls do_getpgid(0) and __do_sys_getpgrp() once each and says
 * how many times each reached the new code:
 *
 *   klp-e2e inlined: direct=1 inlined=0 pgrp=N/N
 *
 * direct=1: livepatch redirects a call of the function. inlined=0: the copy
 * the compiler put into getpgrp is the old code, which the patch never
 * reaches; `klp verify --debuginfo` warns about exactly that.
 *
 * Built with -DKLP_E2E_BAD_PROTOTYPE the replacement takes a second parameter,
 * which do_getpgid()'s callers never pass: `klp verify --debuginfo` and
 * `klp convert --debuginfo` compare the two prototypes and refuse it.
 *
 * Built with -DKLP_E2E_BAD_DECLARATIONS the patch declares what it takes from
 * vmlinux wrongly: do_getpgid() without its parameter, and max_threads (an int)
 * as a long. klp reads the patch's own DWARF: `klp convert` refuses the long
 * that reaches past max_threads, and with --debuginfo the call that passes no pid.
 */
#include <linux/atomic.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>

struct pt_regs;

/* asm labels: the ELF names, without relying on kernel headers declaring them */
#ifdef KLP_E2E_BAD_DECLARATIONS
extern int klp_e2e_do_getpgid(void) __asm__("do_getpgid");
extern long klp_e2e_max_threads __asm__("max_threads");
#define KLP_E2E_PID
#else
extern int klp_e2e_do_getpgid(pid_t pid) __asm__("do_getpgid");
#define KLP_E2E_PID 0
#endif
extern long klp_e2e_getpgrp(const struct pt_regs *unused) __asm__("__do_sys_getpgrp");

static atomic_t klp_e2e_calls = ATOMIC_INIT(0);

#ifdef KLP_E2E_BAD_PROTOTYPE
static int klp_e2e_getpgid(pid_t pid, long whence)
#else
static int klp_e2e_getpgid(pid_t pid)
#endif
{
	struct task_struct *p;
	int ret = -ESRCH;

	atomic_inc(&klp_e2e_calls);
	rcu_read_lock();
	p = pid ? find_task_by_vpid(pid) : current;
	if (p)
		ret = pid_vnr(task_pgrp(p));
	rcu_read_unlock();
	return ret;
}

static int klp_e2e_cmdline_show(struct seq_file *m, void *v)
{
	int before = atomic_read(&klp_e2e_calls);
	int direct_pgrp = klp_e2e_do_getpgid(KLP_E2E_PID);
	int direct = atomic_read(&klp_e2e_calls) - before;
	long inlined_pgrp;

	before = atomic_read(&klp_e2e_calls);
	inlined_pgrp = klp_e2e_getpgrp(NULL);
	seq_printf(m, "klp-e2e inlined: direct=%d inlined=%d pgrp=%d/%ld\n", direct,
		   atomic_read(&klp_e2e_calls) - before, direct_pgrp, inlined_pgrp);
#ifdef KLP_E2E_BAD_DECLARATIONS
	seq_printf(m, "max_threads=%ld\n", klp_e2e_max_threads);
#endif
	return 0;
}

static struct klp_func klp_e2e_funcs[] = {
	{ .old_name = "do_getpgid", .new_func = klp_e2e_getpgid },
	{ .old_name = "cmdline_proc_show", .new_func = klp_e2e_cmdline_show },
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
MODULE_DESCRIPTION("klp e2e: a patched function whose inlined copy the patch never reaches");
MODULE_INFO(livepatch, "Y");
