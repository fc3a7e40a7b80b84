// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-e2e-target, file A: its own target_pick() and target_count, static, so
 * that the module defines each name twice.  The values tell the copies
 * apart: file A's are 0xa and 0xa1, file B's 0xb and 0xb1.
 *
 * It also defines target_weak_show() and, right after it, a __weak
 * target_hook() that target-b.c overrides: the module keeps the weak body
 * without its symbol, inside target_weak_show()'s kallsyms range, so that
 * range holds two ftrace call sites.
 */
#include <linux/compiler.h>
#include <linux/seq_file.h>

#include "target.h"

/* __used: kept (and in the symbol table) although only this file calls it */
static noinline __used int target_pick(void)
{
	return 0xa;
}

static int target_count __used = 0xa1;

int target_a_sum(void)
{
	return target_pick() + READ_ONCE(target_count);
}

/* calls nothing of this file: GCC emits a file's callees first, else in order */
int target_weak_show(struct seq_file *m, void *v)
{
	seq_puts(m, "klp-e2e target: weak\n");
	return 0;
}

int __weak target_hook(void)
{
	return 0xa2;
}
