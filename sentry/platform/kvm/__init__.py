"""The KVM platform: application code runs in ring 3 of a KVM guest whose
memory is the MemoryFile (model: gVisor pkg/sentry/platform/kvm and
pkg/ring0; our own code, protocol and trampoline).

VM and memory (``_kvm.Vm``)
    One VM per platform. Slot 1 is the Sentry's own MAP_SHARED|MAP_NORESERVE
    mapping of the memfd, reserved at ``window`` bytes (64 GiB by default)
    so the file can grow, at guest-physical ``MEMORY_BASE`` (64 GiB). Slot 0
    is a private 1 GiB anonymous region at guest-physical 0, mapped
    supervisor-only at ``KBASE`` (0xffffffff80000000) in every address space
    with 2 MiB pages: the trampoline page, the IDT (32 gates), per-vCPU
    GDT+TSS, IST stack and page-table update queue, and the page-table pool.

Guest (``_vmm.h``; bench/kvm_floor.c runs the same protocol from C)
    Long mode, CR0.WP, EFER.NXE, Linux's selectors (kernel 0x10/0x18, user
    0x33/0x2b, no 32-bit user code segment), CR4 without FSGSBASE/PKE/SMEP,
    XCR0 from the filtered CPUID. The trampoline is a few hand-assembled
    instructions (bytes and encodings commented in ``_vmm.h``); none of them
    touch an application register except as saved/restored on the stack:
      * entry: the VMM writes an iret frame (user rip, cs, rflags, rsp, ss)
        on the vCPU's IST stack and points rip at ``iretq`` -- or at
        ``mov %rax,%cr3`` first when the address space or its generation
        changed, or at UPDATE first when page-table writes are queued;
      * ``syscall``: LSTAR (on the supervisor page) runs ``out %al,$0xff``
        at CPL0 where the hardware does what the SDM says; on hosts where
        the instruction jumps to LSTAR but leaves CPL at 3 (these nested
        AMD VMs, whose KVM is PVM: software virtualisation), the fetch from
        the supervisor page is a #PF (error 0x15, CR2 = LSTAR) delivered
        through the IDT with the IST stack switch, and "user fetch at
        LSTAR" with ``syscall`` (0f 05) just before rcx is the system call:
        rcx/r11 hold rip/rflags (a plain jump to LSTAR stays an execute
        fault);
      * exceptions: every vector stub pushes a zero error code where the CPU
        has none, then CR2 (#PF) or zero, and ``out %al,$vector``; the VMM
        reads the frame from the IST stack through its own mapping.
    Registers come and go through kvm_run's sync regs (KVM_CAP_SYNC_REGS),
    so a round trip is one KVM_RUN ioctl and nothing else; fs_base/gs_base
    are MSR writes only when the Sentry changed them (without CR4.FSGSBASE
    the application cannot change them itself).

Traps
    #PF -> FaultTrap(CR2, access from the error code: I/D -> EXECUTE, W/R ->
    WRITE, else READ). #BP -> SIGTRAP/SI_KERNEL, #UD -> SIGILL/ILL_ILLOPN at
    rip, #DE -> SIGFPE/FPE_INTDIV, #GP (hlt, cli, in/out, int $n) ->
    SIGSEGV/SI_KERNEL, #SS/#NP -> SIGBUS, #AC -> SIGBUS/BUS_ADRALN, #MF/#XM
    -> SIGFPE with the code from the FPU state (arch/x86/kernel/traps.c).
    ``int $0x80`` is SIGSEGV/SI_KERNEL as on a kernel without IA32
    emulation (hardware gives #GP: no gate 0x80; PVM hosts give #UD, which
    is recognised by the instruction bytes). KVM_RUN failing with EFAULT on
    a user access (MemoryFile page beyond the end of the file) is
    SIGBUS/BUS_ADRERR, with the address found from KVM_EXIT_MEMORY_FAULT's
    guest-physical page where KVM reports it (Linux 6.8+; 0 on PVM).

Page tables (``_kvm.PageTable``)
    4-level, one per address space, built by the Sentry in the pool; leaf
    entries are user, NX unless PROT_EXEC, writable only with PROT_WRITE
    (copy-on-write pages are mapped read-only by mm). KVM may shadow guest
    page tables (always, without nested paging, as here): it then sees only
    what the *guest* writes to them. Filling a non-present entry from the
    host is safe (the guest faults and KVM walks afresh); changing or
    clearing a present one is queued and made by the trampoline's UPDATE
    loop (512 writes per pass, one KVM_RUN each) by the next vCPU to enter
    that address space, one vCPU at a time so that the writes land in
    order; the entry then reloads CR3. A freed table may
    still be shadowed too: its present entries are queued for the guest
    to clear (made by whichever vCPU enters next), and only then is it
    reused; vCPUs whose CR3 was a released table are first moved to the
    VM's kernel-only PML4 with KVM_SET_SREGS (rare). The pool holds
    ~260000 tables.

Interrupts
    ``interrupt`` (any thread) marks the context PENDING, sets kvm_run's
    ``immediate_exit`` and sends ``KICK_SIGNAL`` (63, no-op handler) to the
    vCPU thread: KVM_RUN returns EINTR. Where the guest stopped decides
    what the application state is: still on the way in (nothing ran), on
    the way out (finish the exit), or in ring 3 (registers from sync regs;
    the vCPU is put back in ring 0 with KVM_GET/SET_SREGS before the next
    entry). No interrupt is lost; a spurious Interrupted is possible.

FP state and CPUID
    A context owns a vCPU (reused from released contexts, its XSAVE state
    reset), which holds the task's FPU/SSE/AVX state between switches;
    ``fp_state``/``set_fp_state`` are KVM_GET/SET_XSAVE with Linux's
    software bytes filled in. The guest CPUID is KVM_GET_SUPPORTED_CPUID
    filtered by ``cpuid.filter_cpuid`` (``KvmPlatform.cpuid``, for
    /proc/cpuinfo).

Measured on the 2-vCPU development VM (bench/kvm_bench.py, bench/kvm_floor.c)
    C floor (ring-3 syscall -> #PF -> out exit -> VMM -> iretq): 35-44 us;
    bare exit to the VMM and back 7-10 us; the same syscall handled inside
    the guest without an exit 12-17 us. ``Context.switch`` on kvm: 36-37 us
    with exactly one KVM_RUN per round trip and no other ioctl; of a mean
    round trip ~38 us are inside KVM_RUN and ~2 us outside it (C, Cython,
    Python, the loop); kvm/floor 1.03-1.04 measured in alternating rounds
    (target: 1.3). ptrace on the same machine: 10-11 us. A remap of a
    present page plus a switch: 61-68 us (the guest makes the write in a
    KVM_RUN of its own). The cost is
    the host's software virtualisation (PVM), which emulates ``syscall``
    and every exit; on hardware virtualisation the same design pays one
    VM exit per system call.

Limits (this host, and part 1)
    Under PVM, ring-3 ``cpuid`` is not intercepted (the application sees
    the real CPU, including AVX, which it can use: PVM runs ring 3 on the
    host's FPU configuration with XCR0 0xe7 although the guest's own CPUID
    denies XSAVE; ``fp_state`` is therefore sized from CPUID leaf 0xD, which
    describes KVM's XSAVE image, not from leaf 1), and
    an iret to a non-canonical rsp makes the host emulate the next
    instruction (#UD for SSE).

Shootdown
    Changing a present entry kicks every vCPU running on that page table out
    of the guest and waits until it is out (Linux flushes remote TLBs before
    munmap/mprotect return); it reports a spurious Interrupted and reloads
    CR3 when it next enters.

Several vCPUs in one address space (threads)
    Each task thread has its own context and vCPU; any number may run on one
    page table. Page-table changes (``map``/``unmap``, the faults of every
    vCPU) run under the GIL, so they are serialised; the GIL is released only
    inside KVM_RUN, an update pass and the shootdown wait. Queued writes are
    made one vCPU at a time (a per-queue busy flag) and dropped by position,
    so a queue can grow while a pass runs; while anything is queued, a write
    to a non-present entry is queued too, behind the older writes to the same
    entry (written directly, it could be overtaken by one of them). A switch
    that starts during a change reads the generation after it (both under
    the GIL) or is kicked by the shootdown, so it never runs on a stale
    translation. ``tests/platform/test_threads.py`` runs this on both back
    ends.
"""

from sentry.platform.kvm.platform import (
    KvmAddressSpace,
    KvmContext,
    KvmPlatform,
    KvmUnavailableError,
)

__all__ = ["KvmAddressSpace", "KvmContext", "KvmPlatform", "KvmUnavailableError"]
