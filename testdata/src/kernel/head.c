// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fake vmlinux, file 1 of 3 (linked first, like a kernel's head object):
 * entry point, the ftrace / return-thunk symbols the compiler calls
 * (exported, like in a real kernel) and the banner.
 */
#include "fixture.h"

static int fixture_count;				/* dup: core.c, util.c */

const char linux_banner[] =
	"Linux version 6.1.0-klp-fixture (klp@fixture) (fixture) #1 SMP PREEMPT\n";

int fixture_head_counter(void)
{
	return fixture_count++;
}

#if defined(__x86_64__)
/* -pg -mfentry: every function calls __fentry__; -mfunction-return=thunk-extern
 * turns every `ret` into `jmp __x86_return_thunk`. */
__asm__(".pushsection .head.text,\"ax\",@progbits\n"
	".globl fixture_start\n.type fixture_start,@function\n"
	"fixture_start:\n\tcall fixture_head_counter\n1:\thlt\n\tjmp 1b\n"
	".size fixture_start, .-fixture_start\n"
	".text\n"
	".globl __fentry__\n.type __fentry__,@function\n"
	"__fentry__:\n\tret\n.size __fentry__, .-__fentry__\n"
	".globl __x86_return_thunk\n.type __x86_return_thunk,@function\n"
	"__x86_return_thunk:\n\tret\n\tint3\n.size __x86_return_thunk, .-__x86_return_thunk\n"
	".popsection\n");
extern void __fentry__(void);
extern void __x86_return_thunk(void);
EXPORT_SYMBOL(__fentry__);
EXPORT_SYMBOL(__x86_return_thunk);
#elif defined(__aarch64__)
/* -fpatchable-function-entry=2: no symbol is called, NOPs are recorded in
 * __patchable_function_entries instead. */
__asm__(".pushsection .head.text,\"ax\",@progbits\n"
	".globl fixture_start\n.type fixture_start,%function\n"
	"fixture_start:\n\tbl fixture_head_counter\n1:\twfi\n\tb 1b\n"
	".size fixture_start, .-fixture_start\n"
	".popsection\n");
#elif defined(__powerpc64__)
/* -pg -mprofile-kernel: every function calls _mcount */
__asm__(".pushsection .head.text,\"ax\",@progbits\n"
	".globl fixture_start\n.type fixture_start,@function\n"
	"fixture_start:\n\tb 0f\n0:\tb 0b\n"
	".size fixture_start, .-fixture_start\n"
	".text\n"
	".globl _mcount\n.type _mcount,@function\n"
	"_mcount:\n\tmflr 12\n\tmtctr 12\n\tmtlr 0\n\tbctr\n.size _mcount, .-_mcount\n"
	".popsection\n");
extern void _mcount(void);
EXPORT_SYMBOL(_mcount);
#elif defined(__s390x__)
/* -pg -mfentry -mnop-mcount: the compiler emits NOPs, no symbol is called */
__asm__(".pushsection .head.text,\"ax\",@progbits\n"
	".globl fixture_start\n.type fixture_start,@function\n"
	"fixture_start:\n\tbrasl %r14,fixture_head_counter\n0:\tj 0b\n"
	".size fixture_start, .-fixture_start\n"
	".popsection\n");
#else
#error "unsupported architecture"
#endif
