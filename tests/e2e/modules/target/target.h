/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * klp-e2e-target: what target-a.c and target-b.c give target-main.c.  Each of
 * them also defines the statics target_pick (a function) and target_count (an
 * object), so the module has two of each name: the copies of target-a.c come
 * first in its symbol table (position 1), those of target-b.c second.
 */
#ifndef KLP_E2E_TARGET_H
#define KLP_E2E_TARGET_H

struct seq_file;

int target_a_sum(void);
int target_b_sum(void);
int target_hook(void);
int target_weak_show(struct seq_file *m, void *v);

#endif /* KLP_E2E_TARGET_H */
