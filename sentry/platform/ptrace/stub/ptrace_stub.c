// build-flags: -nostdlib -fno-pie -no-pie -nostartfiles -Wl,-Ttext-segment=0x7ffbff000000 -Wl,-z,noseparate-code -Wl,-z,max-page-size=4096 -Wl,--build-id=none -Wl,-z,noexecstack -Wl,-e,_start
/*
 * The ptrace platform's stub process (see sentry/platform/ptrace/__init__.py).
 *
 * This program never executes a system call of its own. It is exec'd with
 * PTRACE_TRACEME, so the kernel stops it with SIGTRAP before its first
 * instruction; from then on the tracer drives it:
 *
 *   - To run a host system call in the stub (mmap/munmap/mprotect of the
 *     MemoryFile, and during set-up prctl/seccomp), the tracer sets rip to
 *     stub_syscall, the number and arguments in rax/rdi/rsi/rdx/r10/r8/r9, and
 *     continues: the syscall runs and the int3 right after it stops the stub
 *     again with the result in rax.
 *   - Application code runs wherever the tracer points rip, under
 *     PTRACE_SYSEMU, so every application `syscall` stops before it executes.
 *
 * The tracer then unmaps everything but the page holding this code (ELF
 * headers, stack, vdso, vvar) so the whole application range is free, and
 * installs a seccomp filter that only allows the injected calls made from
 * stub_syscall. The binary is linked at a fixed address far above any
 * application mapping and below the randomised stack range (x86_64 stack
 * randomisation is at most 16 GiB below TASK_SIZE, arch/x86/mm/mmap.c).
 *
 * A second entry, stub_park, is where the untraced thread group leader
 * waits while no tracer holds it (several sysemu threads, one per tracer
 * thread, are cloned from it).
 *
 * Everything lives in one read-only, executable PT_LOAD segment (no data, no
 * bss, no stack use), which the tests check.
 */

__asm__(
    ".text\n"
    ".globl _start\n"
    ".type _start, @function\n"
    "_start:\n"
    ".globl stub_syscall\n"
    "stub_syscall:\n"
    "    syscall\n"
    "    int3\n"
    /* Never reached in normal operation: the tracer always repositions rip. */
    "    ud2\n"
    /* Where the thread group leader waits, untraced, between the creations
     * of sysemu threads (see stub.py): the tracer leaves it at stub_park
     * with read(STUB_PARK_FD, ...) in its registers. The read blocks while
     * the Sentry holds the pipe's write end; end of file means the Sentry
     * is gone, and the stub leaves with exit_group. Offsets from _start
     * are fixed (PARK_OFFSET, PARK_EXIT_OFFSET in stub.py, which checks
     * these bytes). */
    "    .p2align 4, 0xcc\n"
    ".globl stub_park\n"
    "stub_park:\n"
    "    syscall\n"
    "    mov $231, %eax\n"
    "    xor %edi, %edi\n"
    ".globl stub_park_exit\n"
    "stub_park_exit:\n"
    "    syscall\n"
    "    ud2\n"
    ".size _start, . - _start\n");
