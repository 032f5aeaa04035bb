"""cffi builder (out-of-line API mode) for ``sentry.hostsys._hostsys``.

setup.py discovers this file (``sentry/**/_build_*.py``) and compiles it on
``pip install -e .``. Only declarations live here; the typed wrappers that
raise ``OSError`` are in ``sentry.hostsys`` submodules. The few C helpers
below exist because the operation cannot be expressed as a single call from
Python (spawning the ptrace stub needs a vfork-style clone whose child runs
before exec) or because a raw system call has no glibc wrapper (openat2,
seccomp, process_madvise-style calls).
"""

from __future__ import annotations

from cffi import FFI  # type: ignore[import-untyped]

ffibuilder = FFI()

ffibuilder.cdef(
    r"""
    typedef int... pid_t;
    typedef unsigned int... uid_t;
    typedef long... off_t;
    typedef unsigned long... size_t;
    typedef long... ssize_t;

    /* ptrace(2) */
    long pysb_ptrace(long request, pid_t pid, unsigned long addr, unsigned long data);
    #define PTRACE_TRACEME ...
    #define PTRACE_PEEKDATA ...
    #define PTRACE_POKEDATA ...
    #define PTRACE_CONT ...
    #define PTRACE_KILL ...
    #define PTRACE_SINGLESTEP ...
    #define PTRACE_GETREGS ...
    #define PTRACE_SETREGS ...
    #define PTRACE_GETFPREGS ...
    #define PTRACE_SETFPREGS ...
    #define PTRACE_ATTACH ...
    #define PTRACE_DETACH ...
    #define PTRACE_SYSCALL ...
    #define PTRACE_SYSEMU ...
    #define PTRACE_SYSEMU_SINGLESTEP ...
    #define PTRACE_SETOPTIONS ...
    #define PTRACE_GETSIGINFO ...
    #define PTRACE_GETREGSET ...
    #define PTRACE_SETREGSET ...
    #define PTRACE_SEIZE ...
    #define PTRACE_INTERRUPT ...
    #define PTRACE_GETSIGMASK ...
    #define PTRACE_SETSIGMASK ...
    #define PTRACE_O_TRACESYSGOOD ...
    #define PTRACE_O_EXITKILL ...
    #define NT_PRSTATUS ...
    #define NT_PRFPREG ...
    #define NT_X86_XSTATE ...

    struct iovec { void *iov_base; size_t iov_len; };

    /* wait(2) */
    pid_t waitpid(pid_t pid, int *wstatus, int options);
    int pysb_waitid(int idtype, int id, int options, int *pid, int *code, int *status);
    #define P_PID ...
    #define P_ALL ...
    #define WEXITED ...
    #define WSTOPPED ...
    #define WCONTINUED ...
    #define WNOWAIT ...
    #define WNOHANG ...
    #define WUNTRACED ...
    #define __WALL ...
    #define __WNOTHREAD ...

    /* process_vm_readv(2) / process_vm_writev(2) */
    ssize_t process_vm_readv(pid_t pid, const struct iovec *local_iov, unsigned long liovcnt,
                             const struct iovec *remote_iov, unsigned long riovcnt,
                             unsigned long flags);
    ssize_t process_vm_writev(pid_t pid, const struct iovec *local_iov, unsigned long liovcnt,
                              const struct iovec *remote_iov, unsigned long riovcnt,
                              unsigned long flags);

    /* memfd_create(2), mmap(2) */
    int memfd_create(const char *name, unsigned int flags);
    #define MFD_CLOEXEC ...
    #define MFD_ALLOW_SEALING ...
    void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
    int munmap(void *addr, size_t length);
    int mprotect(void *addr, size_t len, int prot);
    #define PROT_NONE ...
    #define PROT_READ ...
    #define PROT_WRITE ...
    #define PROT_EXEC ...
    #define MAP_SHARED ...
    #define MAP_PRIVATE ...
    #define MAP_FIXED ...
    #define MAP_ANONYMOUS ...
    #define MAP_POPULATE ...
    #define MAP_NORESERVE ...

    /* openat2(2) */
    struct open_how { uint64_t flags; uint64_t mode; uint64_t resolve; };
    long pysb_openat2(int dirfd, const char *path, struct open_how *how, size_t size);
    #define RESOLVE_NO_XDEV ...
    #define RESOLVE_NO_MAGICLINKS ...
    #define RESOLVE_NO_SYMLINKS ...
    #define RESOLVE_BENEATH ...
    #define RESOLVE_IN_ROOT ...
    #define RESOLVE_CACHED ...

    /* prctl(2), seccomp(2) */
    int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4,
              unsigned long arg5);
    #define PR_SET_PDEATHSIG ...
    #define PR_GET_PDEATHSIG ...
    #define PR_SET_NO_NEW_PRIVS ...
    #define PR_GET_NO_NEW_PRIVS ...
    #define PR_SET_NAME ...
    #define PR_SET_DUMPABLE ...
    long pysb_seccomp(unsigned int op, unsigned int flags, void *args);
    struct sock_filter { uint16_t code; uint8_t jt; uint8_t jf; uint32_t k; };
    struct sock_fprog { unsigned short len; struct sock_filter *filter; };
    #define SECCOMP_SET_MODE_FILTER ...
    #define SECCOMP_RET_KILL_PROCESS ...
    #define SECCOMP_RET_KILL_THREAD ...
    #define SECCOMP_RET_TRAP ...
    #define SECCOMP_RET_ERRNO ...
    #define SECCOMP_RET_TRACE ...
    #define SECCOMP_RET_ALLOW ...
    #define AUDIT_ARCH_X86_64 ...

    /* signals */
    long pysb_tgkill(pid_t tgid, pid_t tid, int sig);
    long pysb_gettid(void);
    int pysb_sigprocmask(int how, const uint64_t *set, uint64_t *oldset);
    #define SIG_BLOCK ...
    #define SIG_UNBLOCK ...
    #define SIG_SETMASK ...

    /* sched_setaffinity(2), getcpu(2): CPU masks as a 1024-bit array of words */
    int pysb_setaffinity(pid_t pid, const uint64_t *mask, size_t words);
    int pysb_getaffinity(pid_t pid, uint64_t *mask, size_t words);
    int sched_getcpu(void);

    /* the stub spawn (see pysb_spawn_stub in the source) */
    pid_t pysb_spawn_stub(int exec_fd, int mem_fd, int target_fd, int park_fd, int park_target,
                          int *child_errno);
    """
)

ffibuilder.set_source(
    "sentry.hostsys._hostsys",
    r"""
    #ifndef _GNU_SOURCE
    #define _GNU_SOURCE
    #endif
    #include <errno.h>
    #include <fcntl.h>
    #include <sched.h>
    #include <signal.h>
    #include <stdint.h>
    #include <stdlib.h>
    #include <string.h>
    #include <unistd.h>
    #include <elf.h>
    #include <sys/mman.h>
    #include <sys/prctl.h>
    #include <sys/ptrace.h>
    #include <sys/syscall.h>
    #include <sys/types.h>
    #include <sys/uio.h>
    #include <sys/wait.h>
    #include <linux/audit.h>
    #include <linux/filter.h>
    #include <linux/openat2.h>
    #include <linux/seccomp.h>

    #ifndef PTRACE_SYSEMU
    #define PTRACE_SYSEMU 31
    #endif
    #ifndef PTRACE_SYSEMU_SINGLESTEP
    #define PTRACE_SYSEMU_SINGLESTEP 32
    #endif

    static long pysb_ptrace(long request, pid_t pid, unsigned long addr, unsigned long data)
    {
        /* The raw call: glibc's wrapper turns PEEK* into an out-parameter. */
        return syscall(SYS_ptrace, request, pid, addr, data);
    }

    /* waitid(2): si_pid/si_code/si_status are glibc macros cffi cannot name. */
    static int pysb_waitid(int idtype, int id, int options, int *pid, int *code, int *status)
    {
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        if (waitid((idtype_t)idtype, (id_t)id, &si, options) < 0)
            return -1;
        *pid = si.si_pid;
        *code = si.si_code;
        *status = si.si_status;
        return 0;
    }

    static long pysb_openat2(int dirfd, const char *path, struct open_how *how, size_t size)
    {
        return syscall(SYS_openat2, dirfd, path, how, size);
    }

    static long pysb_seccomp(unsigned int op, unsigned int flags, void *args)
    {
        return syscall(SYS_seccomp, op, flags, args);
    }

    static long pysb_tgkill(pid_t tgid, pid_t tid, int sig)
    {
        return syscall(SYS_tgkill, tgid, tid, sig);
    }

    static long pysb_gettid(void)
    {
        return syscall(SYS_gettid);
    }

    static int pysb_sigprocmask(int how, const uint64_t *set, uint64_t *oldset)
    {
        /* The kernel's sigset is 64 bits on x86_64 (rt_sigprocmask(2)); glibc's
         * sigset_t is 1024 bits and reserves two RT signals, so call it raw. */
        return (int)syscall(SYS_rt_sigprocmask, how, set, oldset, sizeof(uint64_t));
    }

    static int pysb_setaffinity(pid_t pid, const uint64_t *mask, size_t words)
    {
        return (int)syscall(SYS_sched_setaffinity, pid, words * 8, mask);
    }

    static int pysb_getaffinity(pid_t pid, uint64_t *mask, size_t words)
    {
        long n = syscall(SYS_sched_getaffinity, pid, words * 8, mask);
        return n < 0 ? -1 : 0;
    }

    struct pysb_spawn {
        int exec_fd, mem_fd, target_fd, park_fd, park_target;
        volatile int err;
    };

    /*
     * Runs in the vfork-style child (CLONE_VM|CLONE_VFORK): it shares the
     * Sentry's memory while the calling thread is suspended, runs with every
     * signal but SIGTRAP blocked (so no Sentry signal handler can run here), and uses only
     * raw calls. PTRACE_TRACEME makes the *calling thread* the tracer (the
     * child's real_parent is that thread, kernel/fork.c copy_process), and so
     * does PR_SET_PDEATHSIG: the stub dies if that thread exits before the
     * platform has prepared it (which then clears it: see stub.py).
     */
    static int pysb_stub_child(void *arg)
    {
        struct pysb_spawn *s = arg;
        char *const argv[] = {"pysandbox-stub", NULL};
        char *const envp[] = {NULL};

        if (syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
            goto fail;
        /* Its own host process group: when the Sentry runs on a host
         * terminal, the keys ^C ^Z ^\ signal the terminal's foreground group,
         * which must be the Sentry alone (it forwards them to the sandbox's
         * foreground group); a stub would otherwise get them too. */
        if (syscall(SYS_setpgid, 0, 0) < 0)
            goto fail;
        /* Nothing of the Sentry's leaks into the stub but the MemoryFile. */
        if (syscall(SYS_close_range, 0, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
            goto fail;
        if (s->mem_fd == s->target_fd) {
            if (syscall(SYS_fcntl, s->target_fd, F_SETFD, 0) < 0)
                goto fail;
        } else if (syscall(SYS_dup2, s->mem_fd, s->target_fd) < 0) {
            goto fail;
        }
        /* The park pipe's read end (the caller keeps park_fd away from
         * target_fd, so the dup2 above cannot have replaced it). */
        if (s->park_fd >= 0 && s->park_fd != s->park_target &&
            syscall(SYS_dup2, s->park_fd, s->park_target) < 0)
            goto fail;
        if (s->park_fd >= 0 && s->park_fd == s->park_target &&
            syscall(SYS_fcntl, s->park_target, F_SETFD, 0) < 0)
            goto fail;
        if (syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0) < 0)
            goto fail;
        syscall(SYS_execveat, s->exec_fd, "", argv, envp, AT_EMPTY_PATH);
    fail:
        s->err = errno;
        syscall(SYS_exit, 127);
        return 127;
    }

    static pid_t pysb_spawn_stub(int exec_fd, int mem_fd, int target_fd, int park_fd,
                                 int park_target, int *child_errno)
    {
        struct pysb_spawn s = {exec_fd, mem_fd, target_fd, park_fd, park_target, 0};
        size_t stack_size = 64 * 1024;
        char *stack;
        sigset_t all, old;
        pid_t pid;
        int saved;

        stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (stack == MAP_FAILED)
            return -1;
        /* Everything but SIGTRAP: the exec stop is a plain SIGTRAP
         * (kernel/ptrace.c ptrace_event with no PTRACE_O_TRACEEXEC) and a
         * blocked one would let the stub run its first instruction. */
        sigfillset(&all);
        sigdelset(&all, SIGTRAP);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pid = clone(pysb_stub_child, stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &s);
        saved = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        munmap(stack, stack_size);
        *child_errno = s.err;
        errno = saved;
        return pid;
    }
    """,
    libraries=[],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
