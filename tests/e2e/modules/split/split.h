/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * klp-e2e-split: what split-a.c and split-b.c give split-main.c, the address
 * each file's code was bound to for the ELF names s_next and KLP_E2E_X.
 */
#ifndef KLP_E2E_SPLIT_H
#define KLP_E2E_SPLIT_H

const void *klp_e2e_split_a(void);
const void *klp_e2e_split_b(void);
const void *klp_e2e_split_xa(void);
const void *klp_e2e_split_xb(void);

#endif /* KLP_E2E_SPLIT_H */
