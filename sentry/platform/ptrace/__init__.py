"""The ptrace platform: application code runs in stub processes that the
Sentry traces with PTRACE_SYSEMU (model: gVisor pkg/sentry/platform/ptrace).

Stub layout
    One stub process per AddressSpace, started lazily on the first switch (or
    mapping call after it), and in it one stub thread per host thread that
    uses the address space (``process.py``: gVisor's subprocess keeps the
    same map from tracer thread to sysemu thread). The stub is a static,
    freestanding ELF (``stub/ptrace_stub.c``, built by setup.py) with a
    single read+exec PT_LOAD page linked at 0x7ffbff000000 (no PIE, no data,
    no stack use). That address lies above anything the application may map
    (``max_user_address`` is the stub's page) and below the range x86_64
    stack randomisation can reach (at most 16 GiB under TASK_SIZE,
    arch/x86/mm/mmap.c), so exec never collides. Its program is ``syscall;
    int3; ud2`` at the entry point and, 16 bytes on, the park loop of the
    thread group leader: ``syscall`` (a read of the park pipe), then
    ``exit_group``.

Spawn (``sentry.hostsys.ptrace.spawn_stub``)
    A vfork-style clone of the calling thread (CLONE_VM|CLONE_VFORK, every
    signal but SIGTRAP blocked, raw calls only) sets PR_SET_PDEATHSIG=SIGKILL,
    marks every descriptor close-on-exec and dup2s the MemoryFile to fd 3
    (``STUB_MEMORY_FD``) and the platform's park pipe read end to fd 4
    (``STUB_PARK_FD``), calls PTRACE_TRACEME and execveat()s the stub from a
    descriptor opened when the platform was created (so a later chroot of
    the Sentry does not matter). The tracer is the calling *thread* (the
    child's real_parent), which waits for the post-exec SIGTRAP stop, sets
    PTRACE_O_EXITKILL|PTRACE_O_TRACESYSGOOD and an empty signal mask
    (PTRACE_SETSIGMASK), prepares it (below, starting with
    prctl(PR_SET_PDEATHSIG, 0): the process must outlive that thread),
    clones the first stub thread and parks the leader.

Spare stubs (``pool.StubPool``)
    From the second address space on (a sandbox that never forks nor execs
    keeps none), a daemon thread keeps two spare stub processes ready, so a
    new address space (every fork and exec) does not wait for a spawn. It starts one
    *template* stub as above, keeps it traced and unparked, and makes each
    spare by injecting clone(CLONE_PARENT|CLONE_PTRACE, SIGCHLD) into it
    (``seccomp.CLONE_STUB_PROCESS``): the copy inherits the filter,
    no_new_privs, the bare address space, both descriptors and the
    template's process group, is a child of the Sentry and a tracee of the
    pool thread, which clones its first stub thread and parks both. The
    address space seizes that parked thread (binding it to its own CPU) and
    runs on it. ``Platform.quiesce`` (called by the kernel when init exits)
    and ``close`` kill the spares and the template.

Threads (``process.StubProcess``)
    The leader is never a sysemu thread: it waits, untraced and with every
    blockable signal blocked, in the park loop's read of the park pipe,
    whose write end only the Sentry holds. A host thread without a stub
    thread in the process seizes it (PTRACE_SEIZE, PTRACE_INTERRUPT),
    injects clone(CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|
    CLONE_PTRACE): CLONE_PTRACE makes the new thread traced by that same
    host thread from its first instruction (it inherits the filter, the
    options and seized-ness), and detaches the leader back into the park
    loop (a lock serialises this). So each tracer has its own thread and no
    thread changes tracer. ``interrupt`` tgkills the context's own stub
    thread; FP state lives in each stub thread; map_file/unmap inject
    through the calling host thread's stub thread (made if needed), and
    since the threads share one host mm the change is visible to all of
    them when the call returns (the host flushes remote TLBs).
    ``PtraceContext.release`` on its host thread, or that thread's end (a
    thread-local registry dropped on the ending thread), injects exit(2)
    into its stub threads and reaps them. ``release`` of the address space
    SIGKILLs the process and reaps every thread, then the leader.
    Lifetimes: traced threads die with their tracer thread (EXITKILL, which
    kills the whole process: a host thread must retire its stub threads
    before it ends, which the registry does), the leader leaves by itself
    when the Sentry dies (end of file on the park pipe), and every thread
    with ``release``.

Injection
    Every host system call a stub ever makes is injected: the tracer sets
    rip to the entry ``syscall``, rax/rdi/rsi/rdx/r10/r8/r9 to the call,
    orig_rax to -1 (no host restart logic), PTRACE_CONT, and the ``int3``
    after it stops the stub with the result in rax (gVisor's
    ``thread.syscall``). Set-up injects prctl(PR_SET_NO_NEW_PRIVS), seccomp
    (filter written onto the stub's still-mapped stack with
    process_vm_writev) and two munmaps that remove everything but the stub
    page: ELF headers, stack, vdso, vvar. From then on the only host calls
    are the mirror's mmap(MAP_SHARED|MAP_FIXED, fd 3)/munmap/mprotect and
    the thread (and spare process) clone/exit, and the seccomp filter
    (``seccomp.py``) allows exactly those, only from the stub's ``syscall`` instruction (and the
    park read and exit_group from the park loop's), killing the stub for
    anything else. The
    host's vsyscall emulation consults seccomp, which traps it (SIGSYS); the
    switch turns that into a SyscallTrap (the host already emulated the
    ``ret``), so vsyscall time/gettimeofday/getcpu are served by the Sentry.

Switch (``_ptrace.pyx``, Cython, without the GIL while blocked)
    SETREGS (cs/ss/ds/es/fs/gs forced to the stub's own, so the application
    cannot enter 32-bit mode), PTRACE_SYSEMU, waitpid(__WALL), GETREGS, then
    classify the stop: SIGTRAP|0x80 is a system call (orig_rax = number, rip
    after the instruction; SYSEMU stops before seccomp and before the call
    runs, kernel/entry/common.c); SIGSEGV with a fault si_code is a
    FaultTrap; SIGCHLD is ``interrupt`` (tgkill from any thread, swallowed
    by resuming with signal 0); SIGSTOP and any signal sent by a process
    (si_code <= 0) are dropped; every other signal is a SignalTrap with the
    host's si_code and si_addr (int3 SIGTRAP/SI_KERNEL, ud2 SIGILL/ILL_ILLOPN,
    #DE SIGFPE/FPE_INTDIV, #GP such as hlt or cli SIGSEGV/SI_KERNEL, SIGBUS).
    A system call stop whose rcx is not the next rip did not come from
    ``syscall`` but from int 0x80 or sysenter: the Sentry serves only the
    64-bit ABI, so that is reported as the #GP a kernel without IA32
    emulation gives (SIGSEGV/SI_KERNEL, rip back at the instruction).

Fault access type
    ptrace never sees the page-fault error code, so ``mirror.Mirror``
    infers it: fetch at rip from a non-exec page is EXECUTE, a permission
    fault on a readable page is WRITE, anything else READ (an unmapped write
    is reported READ first and WRITE when retried on the now readable page).
    A WRITE thus always hit a mapped page (``write_faults_imply_mapped``),
    which lets ``mm`` remap only what a copy-on-write break changed.
    ``write_protect`` (fork) injects mprotect over the mirror's writable
    mappings, and an unmap of a range with nothing mapped injects nothing.

FP state
    Each stub thread holds its task's FPU/SSE/AVX state between switches
    (one task per host thread, so one per stub thread), so a switch copies
    none of it. ``Context.fp_state``/``set_fp_state`` read and write it as
    an XSAVE image (NT_X86_XSTATE), which is what signal frames need.

Pinning (measured by bench/ptrace_floor.c and bench/platform_bench.py)
    A ptrace round trip is two wake-ups; across CPUs each costs tens of
    microseconds on a VM. ``"follow"`` (gVisor's ``thread.bind``) binds the
    stub to the CPU the tracer runs on at each switch (sched_getcpu via the
    vDSO, sched_setaffinity only when it changed) and leaves the tracer
    free; but the scheduler then often wakes the tracer on the idle CPU
    after the stub stops, and the stub must follow it there. The default,
    ``"sticky"``, also pins the tracer thread to its CPU, for a lease of
    ``STICKY_LEASE_NS`` (20 ms): when the lease ends, one round trip runs
    with the tracer free and the next pins it wherever it woke, so busy
    tracers still spread over the CPUs. Threads a pinned tracer starts
    inherit its mask: the Sentry's helper threads call
    ``sentry.hostsys.cpus.unpin_thread`` first, and a released context
    unpins its thread. ``"both"`` pins the tracer for good; ``"none"``
    leaves placement to the scheduler.
    Measured on the 2-vCPU development VM, getpid round trips from Python
    (session 5, ``python -m sentry run`` of bench/getpid_loop.c, unpinned
    caller): sticky 12.8-13.6 us, both 11.0-13.3 us, follow 25.6-29.6 us,
    none 67-68 us. The C floor (bench/ptrace_floor.c) on the same day:
    pinned 10.4 us, follow 24.3 us, unpinned 63.8 us. (Earlier sessions
    measured follow at the pinned figure; the VM's wake-up placement
    changed under us, which is why the default changed.) An injected
    ``map_file`` costs 16-20 us.

Threading and limits
    A Context is bound to the host thread that created it (``switch`` on
    another thread raises RuntimeError); any thread may map and unmap.
    Never call waitpid(-1) or set SIGCHLD to SIG_IGN in the Sentry process:
    stubs are its children and their stops are reported by wait. Lock
    order: address space (mirror, lazy start) -> stub process (thread
    creation and registry).
"""

from sentry.platform.ptrace.platform import (
    PtraceAddressSpace,
    PtraceContext,
    PtracePlatform,
    StubExitedError,
)

__all__ = ["PtraceAddressSpace", "PtraceContext", "PtracePlatform", "StubExitedError"]
