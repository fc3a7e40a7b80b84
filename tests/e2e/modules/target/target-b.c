// SPDX-License-Identifier: GPL-2.0-only
/*
 * klp-e2e-target, file B: its own target_pick() and target_count, static, so
 * that the module defines each name twice.  The values tell the copies
 * apart: file A's are 0xa and 0xa1, file B's 0xb and 0xb1.  Its
 * target_hook() overrides file A's __weak one.
 */
#include <linux/compiler.h>

#include "target.h"

/* __used: kept (and in the symbol table) although only this file calls it */
static noinline __used int target_pick(void)
{
	return 0xb;
}

static int target_count __used = 0xb1;

int target_b_sum(void)
{
	return target_pick() + READ_ONCE(target_count) + target_hook() - 0xb2;
}

int target_hook(void)
{
	return 0xb2;
}
