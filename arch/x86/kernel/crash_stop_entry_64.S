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
 * Halt, with interrupts off, while *word == val; only an NMI (or SMI,
 * INIT) ends the halt, and the caller loops. An NMI that lands after the
 * comparison and before the hlt does not end it: on x86-64 an NMI handler
 * cannot move the return address of what it interrupted (the NMI returns
 * to a copy of its frame). The core sends another wake-up NMI to a CPU
 * still halted after its release (REWAKE_NS in rust/crash_stop/protocol.rs).
 */
SYM_FUNC_START(crash_stop_arch_halt_while)
	cmp	%rsi, (%rdi)
	jne	1f
	hlt
1:	RET
SYM_FUNC_END(crash_stop_arch_halt_while)
_ASM_NOKPROBE(crash_stop_arch_halt_while)
