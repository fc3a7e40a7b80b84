// SPDX-License-Identifier: GPL-2.0-only
/*
 * SHT_GROUP (COMDAT) fixture.  Built with -mindirect-branch=thunk and
 * -mfunction-return=thunk (not thunk-extern), GCC emits the thunks itself as
 * COMDAT functions, each in its own group (__x86_indirect_thunk_rax and
 * __x86_return_thunk on x86_64, __s390_indirect_jump_r* on s390x).  Those
 * groups hold one section without relocations, so one more group is made by
 * hand: a data table whose group holds both the section and its .rela
 * section, so a rewriter must renumber group members correctly.
 */
int (*group_fptr)(int);

int group_call(int x)
{
	return group_fptr(x) + 1;
}

__asm__(".section .data.group_table,\"awG\",@progbits,group_table,comdat\n\t"
	".globl group_table\n\t"
	".type group_table, @object\n\t"
	".balign 8\n"
	"group_table:\n\t"
	".quad group_fptr\n\t"
	".quad group_call\n\t"
	".size group_table, 16\n\t"
	".previous\n");
