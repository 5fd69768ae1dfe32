/* SPDX-License-Identifier: GPL-2.0 */
/*
 * crash_stop() on x86-64: describe the caller in a struct pt_regs, the way
 * crash_setup_regs() describes a crashing context, and hand it to the core.
 *
 * crash_setup_regs() captures the registers at the point where it is
 * expanded, which for a C implementation of crash_stop() would be a frame
 * inside crash_stop itself. This stub records its caller instead: ip is the
 * return address into the caller, sp the caller's stack pointer once the
 * call returns, bp and the other callee-saved registers the caller's own,
 * the argument registers what the caller passed. An unwinder starting from
 * these registers walks the caller's stack; the frame stays valid while
 * crash_stop() runs.
 */
#include <linux/annotate.h>
#include <linux/cfi_types.h>
#include <linux/linkage.h>
#include <asm/asm.h>
#include <asm/ptrace-abi.h>
#include <asm/segment.h>

	.text
/*
 * int crash_stop(const struct crash_stop_args *args,
 *		  struct crash_stop_result *res);
 */
SYM_TYPED_FUNC_START(crash_stop)
	push	%rbp
	mov	%rsp, %rbp
	sub	$FRAME_SIZE, %rsp

	/*
	 * Fill the frame through %rdx (the third argument of __crash_stop()):
	 * objtool would read stores of callee-saved registers relative to
	 * %rsp as register saves, to be restored before the return.
	 */
	mov	%rdx, RDX(%rsp)
	mov	%rsp, %rdx
	mov	%r15, R15(%rdx)
	mov	%r14, R14(%rdx)
	mov	%r13, R13(%rdx)
	mov	%r12, R12(%rdx)
	mov	%rbx, RBX(%rdx)
	mov	%r11, R11(%rdx)
	mov	%r10, R10(%rdx)
	mov	%r9, R9(%rdx)
	mov	%r8, R8(%rdx)
	mov	%rcx, RCX(%rdx)
	mov	%rsi, RSI(%rdx)
	mov	%rdi, RDI(%rdx)
	movq	$0, RAX(%rdx)
	movq	$-1, ORIG_RAX(%rdx)

	/* The caller's frame pointer, pushed above. */
	mov	(%rbp), %rax
	mov	%rax, RBP(%rdx)
	/* The return address: the caller's ip. */
	mov	8(%rbp), %rax
	mov	%rax, RIP(%rdx)
	/* The caller's stack pointer after the return. */
	lea	16(%rbp), %rax
	mov	%rax, RSP(%rdx)
	/* Filled in by the core from its local_irq_save(). */
	movq	$0, EFLAGS(%rdx)
	movq	$__KERNEL_CS, CS(%rdx)
	movq	$__KERNEL_DS, SS(%rdx)

	/* __crash_stop(args, res, regs): %rdi and %rsi are unchanged. */
	call	__crash_stop

	add	$FRAME_SIZE, %rsp
	pop	%rbp
	RET
SYM_FUNC_END(crash_stop)

/*
 * void crash_stop_arch_halt_while(const u64 *word, u64 val);
 *
 * Halt, with interrupts off, while *word == val. Only an NMI (or SMI,
 * INIT) ends the halt. An NMI that lands after the comparison but before
 * the hlt would be lost: crash_stop_nmi() moves the return address of such
 * an NMI back to crash_stop_halt_cmp, so that the comparison is made again
 * (crash_stop_arch_halt_rewind()). The caller loops: any NMI returns here.
 */
SYM_FUNC_START(crash_stop_arch_halt_while)
SYM_INNER_LABEL(crash_stop_halt_cmp, SYM_L_GLOBAL)
	ANNOTATE_NOENDBR
	cmp	%rsi, (%rdi)
	jne	1f
SYM_INNER_LABEL(crash_stop_halt_hlt, SYM_L_GLOBAL)
	ANNOTATE_NOENDBR
	hlt
1:	RET
SYM_FUNC_END(crash_stop_arch_halt_while)
_ASM_NOKPROBE(crash_stop_arch_halt_while)
