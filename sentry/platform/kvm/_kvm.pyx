# cython: language_level=3, boundscheck=False, wraparound=False
"""Cython wrapper of ``_vmm.h``: the VM (memory slots, page-table pool),
guest page tables, and vCPUs with the switch loop run without the GIL.

Interrupt protocol (lock free, per vCPU ``state``): IDLE -> RUNNING while a
switch runs; ``interrupt`` turns IDLE into PENDING (the next switch returns
Interrupted without running) or RUNNING into PENDING, sets kvm_run's
``immediate_exit`` and sends ``KICK_SIGNAL`` to the vCPU thread, whose
no-op handler makes KVM_RUN return EINTR. A request is never lost: a switch
that ends with another trap while PENDING leaves PENDING for the next one.
A late signal or flag can cause a spurious Interrupted (allowed).
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.errno cimport errno
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset

from sentry.arch._registers cimport Registers, user_regs_struct

import os

cdef extern from "_vmm.h":
    """
    static inline void *pysb_mmap(size_t len, int prot, int flags, int fd)
    {
        void *p = mmap(NULL, len, prot, flags, fd, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    static inline int pysb_ioctl_ptr(int fd, unsigned long req, void *arg)
    {
        return ioctl(fd, req, arg);
    }
    static inline int pysb_ioctl_long(int fd, unsigned long req, unsigned long arg)
    {
        return ioctl(fd, req, arg);
    }
    static inline int pysb_set_slot(int vm, unsigned slot, unsigned long gpa,
                                    unsigned long size, void *host)
    {
        struct kvm_userspace_memory_region r;
        memset(&r, 0, sizeof(r));
        r.slot = slot;
        r.guest_phys_addr = gpa;
        r.memory_size = size;
        r.userspace_addr = (unsigned long)host;
        return ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r);
    }
    /* KVM_GET_SUPPORTED_CPUID into `out` (rows of 8 u32: function index
     * flags eax ebx ecx edx 0); returns the count or -1. */
    static int pysb_supported_cpuid(int kvm, uint32_t *out, int max)
    {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + max * sizeof(struct kvm_cpuid_entry2));
        int n, i;
        if (!c)
            return -1;
        c->nent = max;
        if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c) < 0) {
            free(c);
            return -1;
        }
        n = c->nent;
        for (i = 0; i < n; i++) {
            struct kvm_cpuid_entry2 *e = &c->entries[i];
            uint32_t *o = out + 8 * i;
            o[0] = e->function; o[1] = e->index; o[2] = e->flags;
            o[3] = e->eax; o[4] = e->ebx; o[5] = e->ecx; o[6] = e->edx; o[7] = 0;
        }
        free(c);
        return n;
    }
    static int pysb_set_cpuid(int vcpu, const uint32_t *rows, int n)
    {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
        int i, rc;
        if (!c)
            return -1;
        c->nent = n;
        for (i = 0; i < n; i++) {
            struct kvm_cpuid_entry2 *e = &c->entries[i];
            const uint32_t *r = rows + 8 * i;
            e->function = r[0]; e->index = r[1]; e->flags = r[2];
            e->eax = r[3]; e->ebx = r[4]; e->ecx = r[5]; e->edx = r[6];
        }
        rc = ioctl(vcpu, KVM_SET_CPUID2, c);
        free(c);
        return rc;
    }
    static inline void pysb_set_active(struct pysb_vcpu *v, uint64_t pml4)
    {
        __atomic_store_n(&v->active_pml4, pml4, __ATOMIC_SEQ_CST);
        if (!pml4)
            __atomic_add_fetch(&v->switch_seq, 1, __ATOMIC_SEQ_CST);
    }
    static inline int pysb_load_int(int *p)
    {
        return __atomic_load_n(p, __ATOMIC_SEQ_CST);
    }
    static inline uint64_t pysb_load_u64(uint64_t *p)
    {
        return __atomic_load_n(p, __ATOMIC_SEQ_CST);
    }
    static inline int pysb_get_xsave(int vcpu, void *buf)
    {
        return ioctl(vcpu, KVM_GET_XSAVE, buf);
    }
    static inline int pysb_set_xsave(int vcpu, void *buf)
    {
        return ioctl(vcpu, KVM_SET_XSAVE, buf);
    }
    """
    enum:
        K_SYSCALL
        K_FAULT
        K_SIGNAL
        K_INTERRUPTED
        K_ERROR
        K_GUEST_BUG
    unsigned long KVM_GET_API_VERSION, KVM_CREATE_VM, KVM_CHECK_EXTENSION, KVM_CREATE_VCPU
    unsigned long KVM_GET_VCPU_MMAP_SIZE, KVM_SET_TSS_ADDR
    int KVM_CAP_SYNC_REGS, KVM_CAP_IMMEDIATE_EXIT, KVM_CAP_XSAVE, KVM_CAP_XCRS, KVM_CAP_MAX_VCPUS
    int KVM_CAP_USER_MEMORY
    int PROT_READ, PROT_WRITE, MAP_SHARED, MAP_PRIVATE, MAP_ANONYMOUS, MAP_NORESERVE
    int munmap(void *addr, size_t len) nogil
    int close(int fd) nogil

    unsigned long long PYSB_KBASE, PYSB_KWINDOW, PYSB_OFF_CODE, PYSB_OFF_IDT, PYSB_OFF_POOL
    unsigned long long PYSB_MAX_VCPUS, PYSB_T_SYSCALL, PYSB_PRIV_SIZE, PYSB_MEMORY_BASE

    struct pysb_queue:
        uint64_t *e
        size_t n
        size_t cap
        uint64_t base

    struct pysb_pool:
        uint8_t *priv
        uint64_t next
        uint64_t limit
        uint64_t free
        uint64_t used
        pysb_queue zero
        uint64_t *dirty
        size_t ndirty
        uint64_t retired

    struct kvm_run:
        pass
    void pysb_immediate_exit(kvm_run *run, int value) nogil
    uint64_t pysb_find_gva(const uint8_t *priv, uint64_t pml4, uint64_t gpa) nogil

    struct pysb_vcpu:
        int fd
        int id
        kvm_run *run
        size_t run_size
        uint8_t *priv
        uint64_t top_off
        uint64_t cr3
        uint64_t kernel_cr3
        int cr3_stale
        uint64_t gen
        uint64_t fs_base
        uint64_t gs_base
        int in_user
        int state
        int tid
        int kick_signal
        int vector
        uint64_t err
        uint64_t cr2
        uint32_t exit_reason
        uint64_t exits
        uint64_t eintr
        uint64_t resumes
        uint64_t run_ns
        uint64_t active_pml4
        uint8_t *mem
        uint64_t window

    void *pysb_mmap(size_t len, int prot, int flags, int fd) nogil
    int pysb_ioctl_ptr(int fd, unsigned long req, void *arg) nogil
    int pysb_ioctl_long(int fd, unsigned long req, unsigned long arg) nogil
    int pysb_set_slot(int vm, unsigned slot, unsigned long gpa, unsigned long size, void *host) nogil
    int pysb_supported_cpuid(int kvm, uint32_t *out, int max) nogil
    int pysb_set_cpuid(int vcpu, const uint32_t *rows, int n) nogil
    int pysb_get_xsave(int vcpu, void *buf) nogil
    int pysb_set_xsave(int vcpu, void *buf) nogil

    void pysb_write_trampoline(uint8_t *code) nogil
    void pysb_write_idt(uint8_t *idt) nogil
    void pysb_write_kernel_tables(uint8_t *priv) nogil
    void pysb_write_cpu(uint8_t *priv, int id) nogil
    uint64_t pysb_stack_top_off(int id) nogil
    uint64_t pysb_new_pml4(pysb_pool *p) nogil
    int pysb_map(pysb_pool *p, uint64_t pml4, uint64_t addr, uint64_t len, uint64_t gpa, int prot,
                 pysb_queue *q) nogil
    int pysb_unmap(pysb_pool *p, uint64_t pml4, uint64_t addr, uint64_t len, pysb_queue *q) nogil
    int pysb_queue_load(uint8_t *priv, int id, const pysb_queue *q) nogil
    void pysb_queue_drop_to(pysb_queue *q, uint64_t end) nogil
    void pysb_pool_settle(pysb_pool *p) nogil
    int pysb_update_only(pysb_vcpu *v, int n) nogil
    void free(void *p) nogil
    void pysb_free_tables(pysb_pool *p, uint64_t pml4) nogil
    int pysb_setup_vcpu(pysb_vcpu *v, uint64_t cr3, int xsave, uint64_t xcr0) nogil
    int pysb_switch(pysb_vcpu *v, uint64_t cr3, uint64_t gen, user_regs_struct *u) nogil
    int pysb_switch_begin(pysb_vcpu *v) nogil
    void pysb_switch_end(pysb_vcpu *v, int kind) nogil
    void pysb_interrupt(pysb_vcpu *v) nogil
    int pysb_install_kick(int sig) nogil
    void pysb_shootdown(pysb_vcpu *v, uint64_t pml4) nogil
    void pysb_set_active(pysb_vcpu *v, uint64_t pml4) nogil
    int pysb_load_int(int *p) nogil
    uint64_t pysb_load_u64(uint64_t *p) nogil
    int sched_yield() nogil

#: What ``Vcpu.switch`` reports (the Python layer builds the Trap objects).
TRAP_SYSCALL = K_SYSCALL
TRAP_FAULT = K_FAULT
TRAP_SIGNAL = K_SIGNAL
TRAP_INTERRUPTED = K_INTERRUPTED

#: Guest layout, for tests and the docstring.
KBASE = PYSB_KBASE
LSTAR = PYSB_KBASE + PYSB_T_SYSCALL
MAX_VCPUS = PYSB_MAX_VCPUS
#: Guest-physical address of MemoryFile offset 0.
MEMORY_BASE = PYSB_MEMORY_BASE
#: The private region (trampoline, descriptor tables, page-table pool).
PRIVATE_SIZE = PYSB_PRIV_SIZE

#: The signal ``interrupt`` sends to a vCPU thread (a no-op handler is
#: installed: it only makes KVM_RUN return EINTR). A real-time signal no
#: other part of the Sentry or CPython uses.
KICK_SIGNAL = 63

#: KVM_GET_XSAVE's fixed size (struct kvm_xsave).
XSAVE_SIZE = 4096


class GuestError(RuntimeError):
    """The guest did something the trampoline never does (a ring-0
    exception, an unexpected exit): a platform bug, not an application one."""


cdef _oserror(str what, int err=0):
    if err == 0:
        err = errno
    return OSError(err, f"{what}: {os.strerror(err)}")


cdef class Vm:
    """One KVM VM: the private region (slot 0, GPA 0) and the MemoryFile
    window (slot 1, GPA ``MEMORY_BASE``: the Sentry's own MAP_SHARED
    mapping of the memfd, reserved at ``window`` bytes so the file may grow)."""

    cdef readonly int kvm_fd
    cdef readonly int vm_fd
    cdef readonly unsigned long window
    cdef readonly int run_size
    cdef readonly uint64_t kernel_pml4
    cdef pysb_pool pool
    cdef uint8_t *priv
    cdef uint8_t *mem
    cdef bint closed
    cdef list vcpus
    cdef int zero_busy

    def __cinit__(self):
        self.vm_fd = -1
        self.priv = NULL
        self.mem = NULL
        self.closed = True
        self.vcpus = []

    def __init__(self, int kvm_fd, int memory_fd, unsigned long window):
        """``kvm_fd``: an open /dev/kvm (the caller owns it)."""
        cdef int rc
        self.kvm_fd = kvm_fd
        self.window = window
        if pysb_ioctl_long(kvm_fd, KVM_GET_API_VERSION, 0) != 12:
            raise _oserror("KVM_GET_API_VERSION (not a usable /dev/kvm)")
        for cap, name in ((KVM_CAP_SYNC_REGS, "KVM_CAP_SYNC_REGS"),
                          (KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"),
                          (KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY")):
            if pysb_ioctl_long(kvm_fd, KVM_CHECK_EXTENSION, cap) <= 0:
                raise OSError(95, f"KVM lacks {name}, which the kvm platform needs")
        self.run_size = pysb_ioctl_long(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0)
        if self.run_size <= 0:
            raise _oserror("KVM_GET_VCPU_MMAP_SIZE")
        self.vm_fd = pysb_ioctl_long(kvm_fd, KVM_CREATE_VM, 0)
        if self.vm_fd < 0:
            raise _oserror("KVM_CREATE_VM")
        self.closed = False
        # Needed on Intel (a real-mode TSS KVM keeps; outside every slot).
        pysb_ioctl_long(self.vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000)
        self.priv = <uint8_t *>pysb_mmap(PRIVATE_SIZE, PROT_READ | PROT_WRITE,
                                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1)
        if self.priv == NULL:
            raise _oserror("mmap of the private region")
        self.mem = <uint8_t *>pysb_mmap(window, PROT_READ | PROT_WRITE,
                                        MAP_SHARED | MAP_NORESERVE, memory_fd)
        if self.mem == NULL:
            raise _oserror("mmap of the MemoryFile")
        pysb_write_trampoline(self.priv + PYSB_OFF_CODE)
        pysb_write_idt(self.priv + PYSB_OFF_IDT)
        pysb_write_kernel_tables(self.priv)
        self.pool.priv = self.priv
        self.pool.next = PYSB_OFF_POOL
        self.pool.limit = PRIVATE_SIZE
        memset(&self.pool, 0, sizeof(self.pool))
        self.pool.priv = self.priv
        self.pool.next = PYSB_OFF_POOL
        self.pool.limit = PRIVATE_SIZE
        # A PML4 with only the kernel half: what a vCPU has loaded before
        # its first switch.
        self.kernel_pml4 = pysb_new_pml4(&self.pool)
        if pysb_set_slot(self.vm_fd, 0, 0, PRIVATE_SIZE, self.priv) < 0:
            raise _oserror("KVM_SET_USER_MEMORY_REGION (private region)")
        if pysb_set_slot(self.vm_fd, 1, MEMORY_BASE, window, self.mem) < 0:
            raise _oserror("KVM_SET_USER_MEMORY_REGION (MemoryFile)")

    @property
    def tables_used(self):
        """Page-table pages in use (all address spaces)."""
        return self.pool.used

    @property
    def tables_allocated(self):
        """Page-table pages ever taken from the region (reuse keeps this flat)."""
        return (self.pool.next - PYSB_OFF_POOL) // 4096

    @property
    def tables_waiting(self):
        """Freed tables whose entries the guest has yet to clear."""
        return self.pool.ndirty

    def close(self):
        """Destroy the VM (its vCPUs must be closed first). Idempotent."""
        if self.closed:
            return
        self.closed = True
        if self.vm_fd >= 0:
            close(self.vm_fd)
            self.vm_fd = -1
        if self.mem != NULL:
            munmap(self.mem, self.window)
            self.mem = NULL
        if self.priv != NULL:
            munmap(self.priv, PRIVATE_SIZE)
            self.priv = NULL

    def __dealloc__(self):
        free(self.pool.zero.e)
        free(self.pool.dirty)
        if not self.closed:
            if self.vm_fd >= 0:
                close(self.vm_fd)
            if self.mem != NULL:
                munmap(self.mem, self.window)
            if self.priv != NULL:
                munmap(self.priv, PRIVATE_SIZE)

    cdef int _check(self) except -1:
        if self.closed:
            raise RuntimeError("the VM is closed")
        return 0

    cdef void _shootdown(self, uint64_t pml4):
        cdef Vcpu vcpu
        for vcpu in self.vcpus:
            with nogil:
                pysb_shootdown(&vcpu.v, pml4)


def supported_cpuid(int kvm_fd):
    """KVM_GET_SUPPORTED_CPUID as a list of (function, index, flags, eax, ebx, ecx, edx)."""
    cdef uint32_t rows[8 * 512]
    cdef int n = pysb_supported_cpuid(kvm_fd, rows, 512)
    if n < 0:
        raise _oserror("KVM_GET_SUPPORTED_CPUID")
    return [tuple(rows[8 * i + j] for j in range(7)) for i in range(n)]


cdef class PageTable:
    """A 4-level guest page table (one per address space) in the VM's pool.

    ``generation`` grows whenever a present entry changes, so a vCPU knows
    to flush its TLB (reload CR3) on the next entry. New entries need no
    flush: x86 does not cache non-present translations.
    """

    cdef Vm vm
    cdef readonly uint64_t pml4
    cdef readonly uint64_t generation
    cdef pysb_queue queue
    cdef int busy

    def __cinit__(self):
        memset(&self.queue, 0, sizeof(self.queue))

    def __dealloc__(self):
        free(self.queue.e)

    @property
    def pending_writes(self):
        """Entry changes queued for the guest to make (see ``_vmm.h`` pysb_map)."""
        return self.queue.n

    def __init__(self, Vm vm):
        vm._check()
        self.vm = vm
        self.pml4 = pysb_new_pml4(&vm.pool)
        if self.pml4 == 0:
            raise MemoryError("kvm page-table pool exhausted")
        self.generation = 1

    def map(self, uint64_t addr, uint64_t length, uint64_t offset, int prot):
        """Map [addr, addr+length) to MemoryFile [offset, ...) with PROT_* ``prot``."""
        cdef int rc
        self._check()
        if offset + length > self.vm.window:
            raise ValueError(
                f"MemoryFile range {offset:#x}+{length:#x} beyond the kvm window "
                f"({self.vm.window:#x} bytes)")
        rc = pysb_map(&self.vm.pool, self.pml4, addr, length, MEMORY_BASE + offset, prot,
                      &self.queue)
        if rc < 0:
            raise MemoryError("kvm page-table pool exhausted")
        if rc:
            self.generation += 1
            self.vm._shootdown(self.pml4)

    def unmap(self, uint64_t addr, uint64_t length):
        """Clear [addr, addr+length)."""
        cdef int rc
        self._check()
        rc = pysb_unmap(&self.vm.pool, self.pml4, addr, length, &self.queue)
        if rc < 0:
            raise MemoryError("kvm page-table update queue")
        if rc:
            self.generation += 1
            self.vm._shootdown(self.pml4)

    def find_address(self, uint64_t gpa):
        """The user address mapping guest-physical ``gpa`` (or None)."""
        cdef uint64_t va
        self._check()
        va = pysb_find_gva(self.vm.pool.priv, self.pml4, gpa)
        if va == <uint64_t>-1:
            return None
        return va | (gpa & 0xfff)

    def translate(self, uint64_t addr):
        """The raw PTE for ``addr`` (0 if none): tests and debugging."""
        cdef uint64_t t = self.pml4
        cdef uint64_t *e
        cdef int shift
        self._check()
        for shift in (39, 30, 21, 12):
            e = <uint64_t *>(self.vm.pool.priv + t) + ((addr >> shift) & 511)
            if not (e[0] & 1):
                return 0
            if shift == 12:
                return e[0]
            t = e[0] & 0x000ffffffffff000
        return 0

    def read(self, uint64_t addr, int n):
        """Up to ``n`` bytes the application can read at ``addr`` (within one
        page; fewer if unmapped): lets the platform look at a faulting
        instruction."""
        cdef uint64_t pte = self.translate(addr)
        cdef uint64_t off
        cdef int avail
        if not pte & 1:
            return b""
        off = (pte & 0x000ffffffffff000) - MEMORY_BASE + (addr & 0xfff)
        avail = min(n, 0x1000 - <int>(addr & 0xfff))
        if off + avail > self.vm.window:
            return b""
        return bytes((<char *>self.vm.mem)[off:off + avail])

    cdef int _check(self) except -1:
        if self.pml4 == 0:
            raise RuntimeError("page table was released")
        self.vm._check()
        return 0

    def release(self):
        """Return every table to the pool. Idempotent. No vCPU may be
        running on it (the kernel releases an mm after its last task)."""
        cdef Vcpu vcpu
        if self.pml4 != 0 and not self.vm.closed:
            # A vCPU that last ran here keeps this CR3 loaded: move it to the
            # kernel-only PML4 before the guest clears the table.
            for vcpu in self.vm.vcpus:
                if vcpu.v.cr3 == self.pml4:
                    vcpu.v.cr3_stale = 1
            pysb_free_tables(&self.vm.pool, self.pml4)
        self.pml4 = 0


cdef class Vcpu:
    """One vCPU: created once, reused by successive contexts (KVM cannot
    destroy a vCPU before its VM)."""

    cdef pysb_vcpu v
    cdef Vm vm
    cdef bint closing
    cdef readonly int xsave_size
    cdef readonly uint64_t xcr0

    def __cinit__(self):
        memset(&self.v, 0, sizeof(self.v))
        self.v.fd = -1

    def __init__(self, Vm vm, int vcpu_id, rows, int xsave_size, uint64_t xcr0):
        """Create vCPU ``vcpu_id`` with CPUID ``rows`` (tuples as from
        ``supported_cpuid``) and XCR0 ``xcr0`` (0: no XSAVE)."""
        cdef uint32_t *buf
        cdef int n = len(rows)
        cdef int i, j
        vm._check()
        if not 0 <= vcpu_id < PYSB_MAX_VCPUS:
            raise ValueError(f"vcpu id {vcpu_id} outside [0, {PYSB_MAX_VCPUS})")
        self.vm = vm
        self.xsave_size = xsave_size
        self.xcr0 = xcr0
        self.v.id = vcpu_id
        self.v.kick_signal = KICK_SIGNAL
        if pysb_install_kick(KICK_SIGNAL) < 0:
            raise _oserror("sigaction for the kvm kick signal")
        self.v.fd = pysb_ioctl_long(vm.vm_fd, KVM_CREATE_VCPU, vcpu_id)
        if self.v.fd < 0:
            raise _oserror(f"KVM_CREATE_VCPU {vcpu_id}")
        self.v.run_size = vm.run_size
        self.v.run = <kvm_run *>pysb_mmap(vm.run_size, PROT_READ | PROT_WRITE, MAP_SHARED, self.v.fd)
        if self.v.run == NULL:
            raise _oserror("mmap of kvm_run")
        self.v.priv = vm.priv
        self.v.mem = vm.mem
        self.v.window = vm.window
        self.v.top_off = pysb_stack_top_off(vcpu_id)
        pysb_write_cpu(vm.priv, vcpu_id)
        buf = <uint32_t *>PyMem_Malloc(8 * sizeof(uint32_t) * max(n, 1))
        if buf == NULL:
            raise MemoryError()
        try:
            for i in range(n):
                row = rows[i]
                for j in range(7):
                    buf[8 * i + j] = row[j]
                buf[8 * i + 7] = 0
            if pysb_set_cpuid(self.v.fd, buf, n) < 0:
                raise _oserror("KVM_SET_CPUID2")
        finally:
            PyMem_Free(buf)
        self.v.kernel_cr3 = vm.kernel_pml4
        if pysb_setup_vcpu(&self.v, vm.kernel_pml4, 1 if xcr0 else 0, xcr0) < 0:
            raise _oserror("vCPU set-up (KVM_SET_SREGS/XCRS/MSRS)")
        vm.vcpus.append(self)
        self.v.cr3 = 0  # unknown: the first switch flushes and loads

    @property
    def id(self):
        return self.v.id

    @property
    def vector(self):
        """Exception vector of the last trap (-1: system call or SIGBUS)."""
        return self.v.vector

    @property
    def error_code(self):
        return self.v.err

    @property
    def cr2(self):
        return self.v.cr2

    @property
    def stats(self):
        """(KVM_RUN calls, EINTR returns, resumed exits) since creation."""
        return (self.v.exits, self.v.eintr, self.v.resumes)

    @property
    def run_ns(self):
        """Nanoseconds spent inside KVM_RUN since creation."""
        return self.v.run_ns

    def switch(self, PageTable pt, Registers regs):
        """Run ``regs`` on ``pt`` until a trap; return a TRAP_* code."""
        cdef int kind
        cdef int err = 0
        cdef uint64_t cr3
        cdef uint64_t gen
        cdef user_regs_struct r
        pt._check()
        if self.v.fd < 0 or self.closing:
            raise RuntimeError("vcpu is closed")
        cr3 = pt.pml4
        gen = pt.generation
        if not pysb_switch_begin(&self.v):
            return K_INTERRUPTED
        pysb_set_active(&self.v, cr3)
        # Queued page-table writes, in passes of their own before the
        # entry (which then reloads CR3: the generation changed): freed
        # tables' clearing writes (any vCPU makes them), then this table's.
        # One vCPU at a time makes a queue's writes, in order: two making
        # overlapping batches could land an older write last.
        if self._apply(&self.vm.pool.zero, &self.vm.zero_busy):
            return K_INTERRUPTED
        pysb_pool_settle(&self.vm.pool)
        if self._apply(&pt.queue, &pt.busy):
            return K_INTERRUPTED
        r = regs.regs
        with nogil:
            kind = pysb_switch(&self.v, cr3, gen, &r)
            if kind == K_ERROR:
                err = errno
            # Clear a flag an interrupt may have set for this run before
            # reporting; a later one makes at worst a spurious Interrupted.
            pysb_immediate_exit(self.v.run, 0)
            pysb_set_active(&self.v, 0)
            pysb_switch_end(&self.v, kind)
        if kind == K_ERROR:
            raise _oserror("KVM_RUN", err)
        if kind == K_GUEST_BUG:
            raise GuestError(
                f"unexpected guest exit (reason {self.v.exit_reason}, vector {self.v.vector}, "
                f"err {self.v.err:#x}, cr2 {self.v.cr2:#x})")
        r.cs = 0x33
        r.ss = 0x2B
        r.ds = r.es = r.fs = r.gs = 0
        regs.regs = r
        return kind

    cdef int _apply(self, pysb_queue *q, int *busy) except -1:
        """Make every write queued in ``q``: 0, or 1 when interrupted."""
        cdef uint64_t start
        cdef int nq
        cdef int rc
        while q.n > 0:
            if pysb_load_int(busy):
                with nogil:
                    while pysb_load_int(busy):
                        sched_yield()
                continue
            busy[0] = 1
            start = q.base
            nq = pysb_queue_load(self.v.priv, self.v.id, q)
            try:
                rc = self._update_pass(nq)
            finally:
                busy[0] = 0
            if rc:
                return 1
            pysb_queue_drop_to(q, start + nq)
        return 0

    cdef int _update_pass(self, int nq) except -1:
        """Make ``nq`` loaded writes without entering the application:
        0, or 1 when interrupted (the switch is over: Interrupted)."""
        cdef int kind
        with nogil:
            kind = pysb_update_only(&self.v, nq)
        if kind == 0:
            return 0
        pysb_immediate_exit(self.v.run, 0)
        pysb_set_active(&self.v, 0)
        pysb_switch_end(&self.v, kind)
        if kind == K_INTERRUPTED:
            return 1
        raise GuestError(
            f"page-table update pass failed ({kind}, errno {errno}, exit reason "
            f"{self.v.exit_reason})")

    def interrupt(self):
        """Thread safe; see the module docstring."""
        pysb_interrupt(&self.v)

    def reset(self):
        """Forget interrupt state (the vCPU goes back to the platform's pool)."""
        self.v.state = 0
        if self.v.run != NULL:
            pysb_immediate_exit(self.v.run, 0)

    @property
    def pending(self):
        return self.v.state == 2

    def get_xsave(self):
        """KVM_GET_XSAVE: the standard-format XSAVE image (``xsave_size`` bytes)."""
        cdef bytearray buf = bytearray(XSAVE_SIZE)
        cdef unsigned char[:] view = buf
        if pysb_get_xsave(self.v.fd, &view[0]) < 0:
            raise _oserror("KVM_GET_XSAVE")
        return bytes(buf[: self.xsave_size])

    def set_xsave(self, const unsigned char[:] data):
        """KVM_SET_XSAVE (KVM checks the header against the guest's XCR0)."""
        cdef bytearray buf = bytearray(XSAVE_SIZE)
        cdef unsigned char[:] view = buf
        cdef Py_ssize_t n = min(data.shape[0], XSAVE_SIZE)
        if n:
            memcpy(&view[0], &data[0], n)
        if pysb_set_xsave(self.v.fd, &view[0]) < 0:
            raise _oserror("KVM_SET_XSAVE")

    def close(self):
        """Unmap kvm_run and close the vCPU fd. Idempotent.

        A switch running on another thread reads kvm_run until it ends:
        it is kicked out of the guest and waited for first (the platform
        may be closed while a task is still in the guest, at shutdown).
        No switch starts once ``closing`` is set: the check and the
        ``active_pml4`` store happen under the GIL, which this holds."""
        cdef uint64_t pml4
        self.closing = True
        while True:
            pml4 = pysb_load_u64(&self.v.active_pml4)
            if pml4 == 0:
                break
            with nogil:
                pysb_shootdown(&self.v, pml4)
        if self.vm is not None and self.vm.vcpus is not None and self in self.vm.vcpus:
            self.vm.vcpus.remove(self)
        self._close()

    cdef void _close(self) noexcept:
        if self.v.run != NULL:
            munmap(self.v.run, self.v.run_size)
            self.v.run = NULL
        if self.v.fd >= 0:
            close(self.v.fd)
            self.v.fd = -1

    def __dealloc__(self):
        self._close()

