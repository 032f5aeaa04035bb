# cython: language_level=3
"""C-level view of ``Registers`` for other Cython modules (the platforms)."""

cdef extern from "<sys/user.h>":
    # Linux arch/x86/include/asm/user_64.h, as glibc exports it.
    cdef struct user_regs_struct:
        unsigned long long r15
        unsigned long long r14
        unsigned long long r13
        unsigned long long r12
        unsigned long long rbp
        unsigned long long rbx
        unsigned long long r11
        unsigned long long r10
        unsigned long long r9
        unsigned long long r8
        unsigned long long rax
        unsigned long long rcx
        unsigned long long rdx
        unsigned long long rsi
        unsigned long long rdi
        unsigned long long orig_rax
        unsigned long long rip
        unsigned long long cs
        unsigned long long eflags
        unsigned long long rsp
        unsigned long long ss
        unsigned long long fs_base
        unsigned long long gs_base
        unsigned long long ds
        unsigned long long es
        unsigned long long fs
        unsigned long long gs


cdef class Registers:
    cdef user_regs_struct regs
