/*
 * The C half of the KVM platform: guest layout (trampoline bytes, IDT, GDT,
 * TSS, kernel page tables), the guest page-table builder, vCPU set-up and
 * the switch loop. Included by _kvm.pyx (Cython wraps it; nothing here
 * touches Python). bench/kvm_floor.c measures the same protocol in a
 * stand-alone VMM. See the package docstring for the design.
 */
#ifndef PYSB_VMM_H
#define PYSB_VMM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/kvm.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <time.h>
#include <unistd.h>

/* ---- Guest physical / virtual layout ---------------------------------- */

/* The private region is guest-physical [0, PYSB_PRIV_SIZE), mapped
 * supervisor-only at KBASE + gpa in every address space (2 MiB pages): its
 * first 2 MiB hold the trampoline and descriptor tables, the rest is the
 * page-table pool, which the guest must be able to write (see pysb_map). */
#define PYSB_PRIV_SIZE (1ULL << 30)
#define PYSB_KBASE 0xffffffff80000000ULL
#define PYSB_KWINDOW (2ULL << 20)
#define PYSB_OFF_CODE 0x0000ULL  /* trampoline page (LSTAR = its first byte) */
#define PYSB_OFF_IDT 0x1000ULL   /* 32 gates */
#define PYSB_OFF_KPDPT 0x2000ULL /* shared kernel-half PDPT */
#define PYSB_OFF_KPD 0x3000ULL   /* its page directory */
/* per-vCPU: GDT +0, TSS +0x80; IST stack page +0x1000 (top +0x2000);
 * page-table update queue +0x2000 (PYSB_QMAX entries of {pte kva, value}) */
#define PYSB_OFF_CPUS 0x10000ULL
#define PYSB_CPU_STRIDE 0x4000ULL
#define PYSB_CPU_STACK_TOP 0x2000ULL
#define PYSB_CPU_QUEUE 0x2000ULL
#define PYSB_QMAX 512
#define PYSB_MAX_VCPUS ((PYSB_KWINDOW - PYSB_OFF_CPUS) / PYSB_CPU_STRIDE)
#define PYSB_OFF_POOL PYSB_KWINDOW /* page-table pages */
#define PYSB_MEMORY_BASE (1ULL << 36) /* guest-physical MemoryFile offset 0 */

/* Offsets inside the trampoline page. */
#define PYSB_T_SYSCALL 0x000     /* LSTAR: out %al,$0xff; jmp . */
#define PYSB_T_ENTER 0x010       /* iretq */
#define PYSB_T_ENTER_FLUSH 0x018 /* xchg %rax,(%rsp); mov %rax,%cr3; pop %rax; iretq */
#define PYSB_T_UPDATE 0x040      /* apply queued PTE writes, then `ret` */
#define PYSB_T_UPDATE_DONE 0x080 /* out %al,$0xfe; jmp . */
#define PYSB_T_VECTORS 0x100     /* 16 bytes per vector 0..31 */
#define PYSB_PORT_SYSCALL 0xff
#define PYSB_PORT_UPDATED 0xfe

/* Selectors (Linux's, arch/x86/include/asm/segment.h). */
#define PYSB_KERNEL_CS 0x10
#define PYSB_KERNEL_DS 0x18
#define PYSB_USER_DS 0x2b
#define PYSB_USER_CS 0x33
#define PYSB_TSS_SEL 0x40

#define PTE_P 0x1ULL
#define PTE_W 0x2ULL
#define PTE_U 0x4ULL
#define PTE_A 0x20ULL
#define PTE_D 0x40ULL
#define PTE_PS 0x80ULL
#define PTE_NX (1ULL << 63)
#define PTE_ADDR 0x000ffffffffff000ULL

/* User rflags the Sentry may set: CF PF AF ZF SF TF DF OF AC ID (RF is
 * dropped, IF and bit 1 always set, IOPL/NT/VM never): Linux FIX_EFLAGS. */
#define PYSB_USER_FLAGS 0x254dd5ULL

static inline int pysb_has_error_code(int v)
{
    return v == 8 || v == 10 || v == 11 || v == 12 || v == 13 || v == 14 || v == 17 ||
           v == 21 || v == 29 || v == 30;
}

/* The trampoline, hand-assembled (encodings: Intel SDM vol. 2; checked with
 * objdump -D -b binary -mi386:x86-64). Nothing in it touches a general
 * register except as noted, so the VMM sees the application's registers
 * at every exit:
 *   LSTAR   out %al,$0xff ; jmp .              e6 ff eb fe
 *   ENTER   iretq                              48 cf
 *   FLUSH   xchg %rax,(%rsp)                   48 87 04 24   rax <-> new cr3
 *           mov %rax,%cr3                      0f 22 d8      load/flush TLB
 *           pop %rax                           58            application rax
 *           iretq                              48 cf
 *   vector  push $0          (no error code)   6a 00
 *           push $0          (cr2 slot) or, for #PF,
 *           push %rax; mov %cr2,%rax; xchg %rax,(%rsp)
 *                                              50 0f 20 d0 48 87 04 24
 *           out %al,$vector ; jmp .            e6 vv eb fe
 * so the IST stack holds, from its top down: ss rsp rflags cs rip err cr2.
 *   UPDATE  (stack: count, queue, next) for each {kva, value} of the
 *           queue: mov value,(kva) -- saving and restoring rax rcx rdx r8 --
 *           then drop count/queue and `ret` to next (DONE):
 *           50 51 52 41 50 48 8b 4c 24 20 48 8b 54 24 28 48 85 c9 74 13
 *           4c 8b 02 48 8b 42 08 49 89 00 48 83 c2 10 48 ff c9 eb e8
 *           41 58 5a 59 58 48 83 c4 10 c3
 *   DONE    out %al,$0xfe ; jmp .              e6 fe eb fe */
static void pysb_write_trampoline(uint8_t *code)
{
    static const uint8_t sys[] = {0xe6, PYSB_PORT_SYSCALL, 0xeb, 0xfe};
    static const uint8_t enter[] = {0x48, 0xcf};
    static const uint8_t flush[] = {0x48, 0x87, 0x04, 0x24, 0x0f, 0x22, 0xd8, 0x58, 0x48, 0xcf};
    static const uint8_t cr2[] = {0x50, 0x0f, 0x20, 0xd0, 0x48, 0x87, 0x04, 0x24};
    static const uint8_t update[] = {
        0x50, 0x51, 0x52, 0x41, 0x50, 0x48, 0x8b, 0x4c, 0x24, 0x20, 0x48, 0x8b, 0x54, 0x24,
        0x28, 0x48, 0x85, 0xc9, 0x74, 0x13, 0x4c, 0x8b, 0x02, 0x48, 0x8b, 0x42, 0x08, 0x49,
        0x89, 0x00, 0x48, 0x83, 0xc2, 0x10, 0x48, 0xff, 0xc9, 0xeb, 0xe8, 0x41, 0x58, 0x5a,
        0x59, 0x58, 0x48, 0x83, 0xc4, 0x10, 0xc3};
    static const uint8_t done[] = {0xe6, PYSB_PORT_UPDATED, 0xeb, 0xfe};
    memset(code, 0xcc, 0x1000);
    memcpy(code + PYSB_T_SYSCALL, sys, sizeof(sys));
    memcpy(code + PYSB_T_ENTER, enter, sizeof(enter));
    memcpy(code + PYSB_T_ENTER_FLUSH, flush, sizeof(flush));
    memcpy(code + PYSB_T_UPDATE, update, sizeof(update));
    memcpy(code + PYSB_T_UPDATE_DONE, done, sizeof(done));
    for (int v = 0; v < 32; v++) {
        uint8_t *p = code + PYSB_T_VECTORS + 16 * v;
        if (!pysb_has_error_code(v)) {
            *p++ = 0x6a;
            *p++ = 0x00;
        }
        if (v == 14) {
            memcpy(p, cr2, sizeof(cr2));
            p += sizeof(cr2);
        } else {
            *p++ = 0x6a;
            *p++ = 0x00;
        }
        *p++ = 0xe6;
        *p++ = (uint8_t)v;
        *p++ = 0xeb;
        *p++ = 0xfe;
    }
}

/* A 64-bit interrupt gate on IST1; DPL3 only for #BP so `int3` works from
 * ring 3 (as in Linux); `int $n` for any other n is a #GP there. */
static void pysb_write_idt(uint8_t *idt)
{
    memset(idt, 0, 0x1000);
    for (int v = 0; v < 32; v++) {
        uint64_t t = PYSB_KBASE + PYSB_OFF_CODE + PYSB_T_VECTORS + 16 * v;
        uint8_t *g = idt + 16 * v;
        int dpl = v == 3 ? 3 : 0;
        g[0] = t & 0xff;
        g[1] = (t >> 8) & 0xff;
        g[2] = PYSB_KERNEL_CS;
        g[3] = 0;
        g[4] = 1; /* IST1 */
        g[5] = 0x8e | (dpl << 5);
        g[6] = (t >> 16) & 0xff;
        g[7] = (t >> 24) & 0xff;
        *(uint32_t *)(g + 8) = (uint32_t)(t >> 32);
    }
}

/* Kernel half: PML4[511] -> KPDPT[510] -> KPD[i] = 2 MiB pages at GPA 0... */
static void pysb_write_kernel_tables(uint8_t *priv)
{
    ((uint64_t *)(priv + PYSB_OFF_KPDPT))[510] = PYSB_OFF_KPD | PTE_P | PTE_W;
    for (uint64_t i = 0; i < PYSB_PRIV_SIZE >> 21; i++)
        ((uint64_t *)(priv + PYSB_OFF_KPD))[i] = (i << 21) | PTE_P | PTE_W | PTE_A | PTE_D | PTE_PS;
}

/* GDT (no 32-bit user code segment: far jumps to 0x23 fault) and TSS. */
static void pysb_write_cpu(uint8_t *priv, int id)
{
    uint8_t *area = priv + PYSB_OFF_CPUS + PYSB_CPU_STRIDE * id;
    uint64_t *gdt = (uint64_t *)area;
    uint64_t tss = PYSB_KBASE + PYSB_OFF_CPUS + PYSB_CPU_STRIDE * id + 0x80;
    uint64_t top = PYSB_KBASE + PYSB_OFF_CPUS + PYSB_CPU_STRIDE * id + PYSB_CPU_STACK_TOP;
    uint8_t *t = area + 0x80;
    memset(area, 0, PYSB_CPU_STRIDE);
    gdt[2] = 0x00af9b000000ffffULL; /* kernel code, L */
    gdt[3] = 0x00cf93000000ffffULL; /* kernel data */
    gdt[5] = 0x00cff3000000ffffULL; /* user data, DPL3 */
    gdt[6] = 0x00affb000000ffffULL; /* user code, L, DPL3 */
    gdt[8] = 0x67 | ((tss & 0xffffff) << 16) | (0x89ULL << 40) | (((tss >> 24) & 0xff) << 56);
    gdt[9] = tss >> 32;
    *(uint64_t *)(t + 4) = top;    /* RSP0 */
    *(uint64_t *)(t + 0x24) = top; /* IST1 */
    *(uint16_t *)(t + 0x66) = 0x68; /* I/O bitmap beyond the limit: user in/out #GP */
}

static inline uint64_t pysb_stack_top_off(int id)
{
    return PYSB_OFF_CPUS + PYSB_CPU_STRIDE * id + PYSB_CPU_STACK_TOP;
}

/* ---- Page-table pool and guest page tables ---------------------------- */

/* Writes to present entries the guest must make itself: {pte gpa, value}. */
struct pysb_queue {
    uint64_t *e;
    size_t n, cap;
    uint64_t base; /* entries made and dropped so far: drops are by position */
};

static int pysb_queue_push(struct pysb_queue *q, uint64_t pte_gpa, uint64_t value)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        uint64_t *e = realloc(q->e, cap * 2 * sizeof(uint64_t));
        if (!e)
            return -1;
        q->e = e;
        q->cap = cap;
    }
    q->e[2 * q->n] = pte_gpa;
    q->e[2 * q->n + 1] = value;
    q->n++;
    return 0;
}

struct pysb_pool {
    uint8_t *priv;
    uint64_t next;  /* bump allocator (GPA) */
    uint64_t limit; /* end of the private region */
    uint64_t free;  /* free list head (GPA, 0 = empty), linked through word 0 */
    uint64_t used;
    /* Freed tables wait here until the guest has cleared their present
     * entries (`zero`), then go to the free list (see pysb_pool_free). */
    struct pysb_queue zero;
    uint64_t *dirty;
    size_t ndirty, capdirty;
    uint64_t retired;
};

static uint64_t pysb_pool_alloc(struct pysb_pool *p)
{
    uint64_t gpa;
    if (p->free) {
        gpa = p->free;
        p->free = *(uint64_t *)(p->priv + gpa);
        *(uint64_t *)(p->priv + gpa) = 0;
    } else {
        if (p->next + 0x1000 > p->limit)
            return 0;
        gpa = p->next;
        p->next += 0x1000;
    }
    p->used++;
    return gpa; /* the page is all zeroes */
}

/* A freed table page cannot simply be reused: KVM's shadow MMU (these
 * hosts have no nested paging) may still hold a shadow page built from its
 * old contents, and writes by the VMM do not reach it (see pysb_map). So
 * its present entries are queued for the guest to clear (`zero`, made by
 * the next vCPU to enter, see pysb_pool_settle); only then is it reused.
 * Without memory for the queue it is retired for good. */
static void pysb_pool_free(struct pysb_pool *p, uint64_t gpa)
{
    const uint64_t *t = (const uint64_t *)(p->priv + gpa);
    size_t mark = p->zero.n;
    p->used--;
    if (p->ndirty == p->capdirty) {
        size_t cap = p->capdirty ? p->capdirty * 2 : 64;
        uint64_t *d = realloc(p->dirty, cap * sizeof(uint64_t));
        if (!d)
            goto retire;
        p->dirty = d;
        p->capdirty = cap;
    }
    for (int i = 0; i < 512; i++)
        if ((t[i] & PTE_P) && pysb_queue_push(&p->zero, gpa + 8 * i, 0) < 0) {
            p->zero.n = mark;
            goto retire;
        }
    p->dirty[p->ndirty++] = gpa;
    return;
retire:
    madvise(p->priv + gpa, 0x1000, MADV_DONTNEED);
    p->retired++;
}

/* Once the guest has made every queued clearing write, the dirty tables
 * are all zeroes (in memory and in KVM's shadow): free them. */
static void pysb_pool_settle(struct pysb_pool *p)
{
    if (p->zero.n)
        return;
    for (size_t i = 0; i < p->ndirty; i++) {
        uint64_t gpa = p->dirty[i];
        *(uint64_t *)(p->priv + gpa) = p->free; /* not present: bit 0 clear */
        p->free = gpa;
    }
    p->ndirty = 0;
}

/* The PTE for addr, creating intermediate tables if `create`; NULL if
 * absent (or out of pool memory when creating: *oom set). */
static uint64_t *pysb_walk(struct pysb_pool *p, uint64_t pml4, uint64_t addr, int create,
                           int *oom)
{
    uint64_t table = pml4;
    for (int shift = 39; shift > 12; shift -= 9) {
        uint64_t *e = (uint64_t *)(p->priv + table) + ((addr >> shift) & 511);
        if (!(*e & PTE_P)) {
            if (!create)
                return NULL;
            uint64_t n = pysb_pool_alloc(p);
            if (!n) {
                *oom = 1;
                return NULL;
            }
            /* Intermediate entries allow everything; the leaf decides. */
            *e = n | PTE_P | PTE_W | PTE_U | PTE_A;
        }
        table = *e & PTE_ADDR;
    }
    return (uint64_t *)(p->priv + table) + ((addr >> 12) & 511);
}

/* Map [addr, addr+len) to guest-physical [gpa, gpa+len) with PROT_* bits.
 * Returns 1 if a present entry changed (the TLB needs a flush), 0 if not,
 * -1 when out of memory. prot 0 (PROT_NONE) clears the entries.
 *
 * Without nested paging KVM shadows the guest page tables: it write-protects
 * them against the *guest* and rebuilds its shadow entries from what the
 * guest writes, but never sees what the VMM writes through its own mapping.
 * A non-present entry is safe to fill from here (the guest faults on it and
 * KVM walks the tables afresh); changing or clearing a present one is not, so
 * those writes are queued and the trampoline makes them (UPDATE) before the
 * next entry into the address space, followed by a CR3 reload. */
static int pysb_map(struct pysb_pool *p, uint64_t pml4, uint64_t addr, uint64_t len,
                    uint64_t gpa, int prot, struct pysb_queue *q)
{
    int flush = 0, oom = 0;
    uint64_t bits = PTE_P | PTE_U | PTE_A;
    if (prot & 2) /* PROT_WRITE */
        bits |= PTE_W | PTE_D;
    if (!(prot & 4)) /* PROT_EXEC */
        bits |= PTE_NX;
    for (uint64_t off = 0; off < len; off += 0x1000) {
        uint64_t *pte = pysb_walk(p, pml4, addr + off, prot != 0, &oom);
        if (oom)
            return -1;
        if (!pte)
            continue;
        uint64_t value = prot ? ((gpa + off) | bits) : 0;
        if (*pte & PTE_P) {
            /* Memory shows the value before the queued writes: only with
             * nothing queued is an equal entry really unchanged. */
            if (*pte == value && q->n == 0)
                continue;
            flush = 1;
            if (pysb_queue_push(q, (uint64_t)((uint8_t *)pte - p->priv), value) < 0)
                return -1;
        } else if (q->n) {
            /* Writes are queued (and a vCPU may be making them right now,
             * in a pass that released the GIL): this one goes after them,
             * or an older queued write to the same entry could land last.
             * A non-present entry needs no flush; the next entry into the
             * address space makes the write before running the
             * application (a vCPU running meanwhile faults and retries). */
            if (pysb_queue_push(q, (uint64_t)((uint8_t *)pte - p->priv), value) < 0)
                return -1;
        } else {
            *pte = value;
        }
    }
    return flush;
}

static int pysb_unmap(struct pysb_pool *p, uint64_t pml4, uint64_t addr, uint64_t len,
                      struct pysb_queue *q)
{
    return pysb_map(p, pml4, addr, len, 0, 0, q);
}

/* Copy up to PYSB_QMAX queued writes into vCPU `id`'s queue area (as kernel
 * virtual addresses); returns how many. */
static int pysb_queue_load(uint8_t *priv, int id, const struct pysb_queue *q)
{
    uint64_t *dst = (uint64_t *)(priv + PYSB_OFF_CPUS + PYSB_CPU_STRIDE * id + PYSB_CPU_QUEUE);
    int n = q->n < PYSB_QMAX ? (int)q->n : PYSB_QMAX;
    for (int i = 0; i < n; i++) {
        dst[2 * i] = PYSB_KBASE + q->e[2 * i];
        dst[2 * i + 1] = q->e[2 * i + 1];
    }
    return n;
}

/* Drop the entries up to absolute position `end` (another vCPU may have
 * made and dropped some of them already: making them twice is harmless). */
static void pysb_queue_drop_to(struct pysb_queue *q, uint64_t end)
{
    if (end <= q->base)
        return;
    size_t n = end - q->base;
    if (n > q->n)
        n = q->n;
    memmove(q->e, q->e + 2 * n, (q->n - n) * 2 * sizeof(uint64_t));
    q->n -= n;
    q->base += n;
}

static void pysb_free_level(struct pysb_pool *p, uint64_t table, int level, int entries)
{
    uint64_t *t = (uint64_t *)(p->priv + table);
    if (level > 1)
        for (int i = 0; i < entries; i++)
            if (t[i] & PTE_P)
                pysb_free_level(p, t[i] & PTE_ADDR, level - 1, 512);
    pysb_pool_free(p, table);
}

/* Free a PML4 and its lower-half tables (the kernel half is shared). */
static void pysb_free_tables(struct pysb_pool *p, uint64_t pml4)
{
    pysb_free_level(p, pml4, 4, 256);
}

static uint64_t pysb_new_pml4(struct pysb_pool *p)
{
    uint64_t pml4 = pysb_pool_alloc(p);
    if (pml4)
        ((uint64_t *)(p->priv + pml4))[511] = PYSB_OFF_KPDPT | PTE_P | PTE_W | PTE_A;
    return pml4;
}

/* ---- vCPU ------------------------------------------------------------- */

enum { K_SYSCALL = 0, K_FAULT = 1, K_SIGNAL = 2, K_INTERRUPTED = 3, K_ERROR = -1, K_GUEST_BUG = -2 };
enum { ST_IDLE = 0, ST_RUNNING = 1, ST_PENDING = 2 };

struct pysb_vcpu {
    int fd;
    int id;
    struct kvm_run *run;
    size_t run_size;
    uint8_t *priv;
    uint64_t top_off;   /* private-region offset of the IST stack top */
    uint64_t cr3;       /* loaded page table */
    uint64_t kernel_cr3; /* the VM's kernel-only PML4, never freed */
    int cr3_stale;      /* cr3 may be a freed table: reload from the host */
    uint64_t gen;       /* its generation when loaded */
    uint64_t fs_base, gs_base;
    int in_user;        /* an interrupt left the vCPU at CPL3 */
    int state;          /* interrupt protocol, see _kvm.pyx */
    int tid;
    uint64_t active_pml4; /* the page table a switch is running on, else 0 */
    uint64_t switch_seq;  /* switches finished (shootdown waits for one) */
    uint8_t *mem;         /* the Sentry's mapping of the MemoryFile window */
    uint64_t window;
    int kick_signal;
    /* The last trap. */
    int vector;
    uint64_t err, cr2;
    uint32_t exit_reason;
    /* Counters (benchmarks). */
    uint64_t exits, eintr, resumes;
    uint64_t run_ns; /* time spent inside KVM_RUN (benchmarks: where the time goes) */
    struct kvm_segment kcs, kss; /* ring-0 segments, for leaving CPL3 */
};

static inline void pysb_regs_in(struct kvm_regs *g, const struct user_regs_struct *u)
{
    g->rax = u->rax;
    g->rbx = u->rbx;
    g->rcx = u->rcx;
    g->rdx = u->rdx;
    g->rsi = u->rsi;
    g->rdi = u->rdi;
    g->rbp = u->rbp;
    g->r8 = u->r8;
    g->r9 = u->r9;
    g->r10 = u->r10;
    g->r11 = u->r11;
    g->r12 = u->r12;
    g->r13 = u->r13;
    g->r14 = u->r14;
    g->r15 = u->r15;
}

static inline void pysb_regs_out(struct user_regs_struct *u, const struct kvm_regs *g)
{
    u->rax = g->rax;
    u->rbx = g->rbx;
    u->rcx = g->rcx;
    u->rdx = g->rdx;
    u->rsi = g->rsi;
    u->rdi = g->rdi;
    u->rbp = g->rbp;
    u->r8 = g->r8;
    u->r9 = g->r9;
    u->r10 = g->r10;
    u->r11 = g->r11;
    u->r12 = g->r12;
    u->r13 = g->r13;
    u->r14 = g->r14;
    u->r15 = g->r15;
}

static int pysb_set_bases(struct pysb_vcpu *v, uint64_t fs, uint64_t gs)
{
    struct {
        struct kvm_msrs h;
        struct kvm_msr_entry e[2];
    } m;
    memset(&m, 0, sizeof(m));
    m.h.nmsrs = 2;
    m.e[0].index = 0xc0000100; /* MSR_FS_BASE */
    m.e[0].data = fs;
    m.e[1].index = 0xc0000101; /* MSR_GS_BASE */
    m.e[1].data = gs;
    if (ioctl(v->fd, KVM_SET_MSRS, &m) != 2) {
        if (errno == 0)
            errno = EINVAL; /* a non-canonical base */
        return -1;
    }
    v->fs_base = fs;
    v->gs_base = gs;
    return 0;
}

/* Put the vCPU back in ring 0 after an interrupt stopped it at CPL3, and/or
 * on the kernel-only PML4 when its CR3 may be a freed (soon cleared) table:
 * the trampoline's first fetch must not depend on it. Rare: two ioctls. */
static int pysb_fix_sregs(struct pysb_vcpu *v)
{
    struct kvm_sregs s;
    if (!v->in_user && !v->cr3_stale)
        return 0;
    if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
        return -1;
    s.cs = v->kcs;
    s.ss = v->kss;
    if (v->cr3_stale)
        s.cr3 = v->kernel_cr3;
    if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
        return -1;
    if (v->cr3_stale)
        v->cr3 = v->kernel_cr3;
    v->in_user = 0;
    v->cr3_stale = 0;
    return 0;
}

/* kvm_run.immediate_exit is byte 1 of struct kvm_run (after
 * request_interrupt_window); newer uapi headers rename the member
 * (immediate_exit__unsafe), the ABI stays. */
static inline void pysb_immediate_exit(struct kvm_run *run, int value)
{
    __atomic_store_n((uint8_t *)run + 1, (uint8_t)value, __ATOMIC_SEQ_CST);
}

static inline int pysb_cas(int *p, int expected, int desired)
{
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}

/* Make a running or next switch return K_INTERRUPTED (any thread). */
static void pysb_interrupt(struct pysb_vcpu *v)
{
    for (;;) {
        int s = __atomic_load_n(&v->state, __ATOMIC_SEQ_CST);
        if (s == ST_IDLE) {
            if (pysb_cas(&v->state, ST_IDLE, ST_PENDING))
                return;
        } else if (s == ST_RUNNING) {
            int tid = __atomic_load_n(&v->tid, __ATOMIC_SEQ_CST);
            if (pysb_cas(&v->state, ST_RUNNING, ST_PENDING)) {
                /* immediate_exit first, then the signal: either KVM_RUN has
                 * not started and sees the flag, or the signal finds it
                 * inside (Documentation/virt/kvm/api.rst, immediate_exit). */
                pysb_immediate_exit(v->run, 1);
                syscall(SYS_tgkill, getpid(), tid, v->kick_signal);
                return;
            }
        } else {
            return;
        }
    }
}

/* The byte the application sees at `addr` through page table `pml4`
 * (-1 if it cannot read it): lets the switch look at an instruction. */
static int pysb_user_byte(struct pysb_vcpu *v, uint64_t pml4, uint64_t addr)
{
    uint64_t table = pml4, e = 0;
    if (addr >= 0x800000000000ULL)
        return -1;
    for (int shift = 39; shift >= 12; shift -= 9) {
        e = ((uint64_t *)(v->priv + table))[(addr >> shift) & 511];
        if ((e & (PTE_P | PTE_U)) != (PTE_P | PTE_U))
            return -1;
        table = e & PTE_ADDR;
    }
    uint64_t off = (e & PTE_ADDR) - PYSB_MEMORY_BASE + (addr & 0xfff);
    if ((e & PTE_ADDR) < PYSB_MEMORY_BASE || off >= v->window)
        return -1;
    return v->mem[off];
}

/* The first user address mapped to guest-physical page `gpa` through
 * `pml4`, or -1: the address of a SIGBUS (rare, so a full walk). */
static uint64_t pysb_find_gva(const uint8_t *priv, uint64_t pml4, uint64_t gpa)
{
    const uint64_t *l4 = (const uint64_t *)(priv + pml4);
    gpa &= PTE_ADDR;
    for (int a = 0; a < 256; a++) {
        if (!(l4[a] & PTE_P))
            continue;
        const uint64_t *l3 = (const uint64_t *)(priv + (l4[a] & PTE_ADDR));
        for (int b = 0; b < 512; b++) {
            if (!(l3[b] & PTE_P))
                continue;
            const uint64_t *l2 = (const uint64_t *)(priv + (l3[b] & PTE_ADDR));
            for (int c = 0; c < 512; c++) {
                if (!(l2[c] & PTE_P))
                    continue;
                const uint64_t *l1 = (const uint64_t *)(priv + (l2[c] & PTE_ADDR));
                for (int d = 0; d < 512; d++)
                    if ((l1[d] & PTE_P) && (l1[d] & PTE_ADDR) == gpa)
                        return ((uint64_t)a << 39) | ((uint64_t)b << 30) | ((uint64_t)c << 21) |
                               ((uint64_t)d << 12);
            }
        }
    }
    return (uint64_t)-1;
}

/* As Linux's entry code leaves them (arch/x86/entry/entry_64.S): the
 * number in orig_rax, -ENOSYS in rax until the kernel writes the result. */
static inline int pysb_syscall_regs(struct user_regs_struct *u)
{
    u->orig_rax = u->rax;
    u->rax = (uint64_t)-38;
    return K_SYSCALL;
}

/* Run the application in `u` on page table `cr3` until a trap. */
static int pysb_run(struct pysb_vcpu *v, struct user_regs_struct *u);

/* Apply `n` queued writes (loaded by pysb_queue_load) without entering the
 * application: 0 when done, K_INTERRUPTED or K_ERROR/K_GUEST_BUG. */
static int pysb_update_only(struct pysb_vcpu *v, int n)
{
    struct kvm_run *run = v->run;
    struct kvm_regs *g = &run->s.regs.regs;
    uint64_t *top = (uint64_t *)(v->priv + v->top_off);
    uint64_t ktop = PYSB_KBASE + v->top_off;
    if (pysb_fix_sregs(v) < 0)
        return K_ERROR;
    top[-9] = n;
    top[-8] = ktop - PYSB_CPU_STACK_TOP + PYSB_CPU_QUEUE;
    top[-7] = PYSB_KBASE + PYSB_T_UPDATE_DONE;
    g->rsp = ktop - 72;
    g->rip = PYSB_KBASE + PYSB_T_UPDATE;
    g->rflags = 2;
    run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
    for (;;) {
        int rc = ioctl(v->fd, KVM_RUN, 0);
        v->exits++;
        if (rc < 0) {
            if (errno != EINTR)
                return K_ERROR;
            v->eintr++;
            pysb_immediate_exit(run, 0);
            return K_INTERRUPTED; /* the writes are idempotent: redo them later */
        }
        if (run->exit_reason == KVM_EXIT_IO && run->io.port == PYSB_PORT_UPDATED)
            return 0;
        v->exit_reason = run->exit_reason;
        return K_GUEST_BUG;
    }
}

/* Whether an exception is pending or being injected in the vCPU. */
static int pysb_exception_pending(struct pysb_vcpu *v)
{
    struct kvm_vcpu_events ev;
    if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
        return 0;
    return ev.exception.injected || ev.exception.pending;
}

static int pysb_switch(struct pysb_vcpu *v, uint64_t cr3, uint64_t gen,
                       struct user_regs_struct *u)
{
    struct kvm_run *run = v->run;
    struct kvm_regs *g = &run->s.regs.regs;
    uint64_t *top = (uint64_t *)(v->priv + v->top_off);
    uint64_t ktop = PYSB_KBASE + v->top_off;

    if (pysb_fix_sregs(v) < 0)
        return K_ERROR;
    if ((u->fs_base != v->fs_base || u->gs_base != v->gs_base) &&
        pysb_set_bases(v, u->fs_base, u->gs_base) < 0)
        return K_ERROR;
    /* The iret frame on the IST stack, and the application's registers. */
    top[-5] = u->rip;
    top[-4] = PYSB_USER_CS;
    top[-3] = (u->eflags & PYSB_USER_FLAGS) | 0x202;
    top[-2] = u->rsp;
    top[-1] = PYSB_USER_DS;
    pysb_regs_in(g, u);
    if (cr3 != v->cr3 || gen != v->gen) {
        top[-6] = cr3;
        g->rsp = ktop - 48;
        g->rip = PYSB_KBASE + PYSB_T_ENTER_FLUSH;
    } else {
        g->rsp = ktop - 40;
        g->rip = PYSB_KBASE + PYSB_T_ENTER;
    }
    g->rflags = 2;
    v->cr3 = cr3;
    v->gen = gen;
    run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
    return pysb_run(v, u);
}

static inline uint64_t pysb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: tens of ns */
    return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int pysb_run(struct pysb_vcpu *v, struct user_regs_struct *u)
{
    struct kvm_run *run = v->run;
    struct kvm_regs *g = &run->s.regs.regs;
    uint64_t *top = (uint64_t *)(v->priv + v->top_off);
    for (;;) {
        uint64_t t0 = pysb_now_ns();
        int rc = ioctl(v->fd, KVM_RUN, 0);
        int saved = errno;
        v->run_ns += pysb_now_ns() - t0;
        errno = saved;
        v->exits++;
        if (rc < 0) {
            if (errno == EINTR) {
                v->eintr++;
                pysb_immediate_exit(run, 0);
                if (run->kvm_dirty_regs & KVM_SYNC_X86_REGS) {
                    /* Stopped before our registers were even loaded. */
                    run->kvm_dirty_regs = 0;
                    v->cr3_stale = 1;
                    return K_INTERRUPTED;
                }
                if (g->rip >= PYSB_KBASE + PYSB_T_ENTER && g->rip < PYSB_KBASE + PYSB_T_VECTORS) {
                    /* Still on the way in: the application did not run
                     * (CR3 may or may not be the new one yet). */
                    v->cr3_stale = 1;
                    return K_INTERRUPTED;
                }
                if (g->rip >= PYSB_KBASE) {
                    /* On the way out (LSTAR or a vector stub): finish it. */
                    v->resumes++;
                    continue;
                }
                /* In the application, at CPL3. An exception it raised
                 * may be on its way in (KVM keeps it pending across the
                 * signal): deliver it now, or the next entry, whatever
                 * context it sets up (an update pass), would take it. */
                if (pysb_exception_pending(v)) {
                    v->resumes++;
                    continue;
                }
                pysb_regs_out(u, g);
                u->orig_rax = (uint64_t)-1;
                u->rip = g->rip;
                u->rsp = g->rsp;
                u->eflags = g->rflags;
                v->in_user = 1;
                return K_INTERRUPTED;
            }
            if (errno == EFAULT && g->rip < PYSB_KBASE) {
                /* The application touched MemoryFile pages beyond its end
                 * (the host mapping raised SIGBUS inside KVM). Since Linux
                 * 6.8 KVM says which guest-physical page
                 * (KVM_EXIT_MEMORY_FAULT: gpa at byte 40 of kvm_run). */
                v->err = 0;
                v->cr2 = 0;
                if (run->exit_reason == 39) {
                    v->cr2 = *(uint64_t *)((uint8_t *)run + 40);
                    v->err = 1;
                }
                pysb_regs_out(u, g);
                u->rip = g->rip;
                u->rsp = g->rsp;
                u->eflags = g->rflags;
                v->in_user = 1;
                v->vector = -1;
                return K_SIGNAL;
            }
            return K_ERROR;
        }
        v->exit_reason = run->exit_reason;
        if (run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT)
            return K_GUEST_BUG;
        pysb_regs_out(u, g);
        if (run->io.port == PYSB_PORT_SYSCALL) {
            /* `syscall` reached LSTAR in ring 0 (hardware that does it). */
            u->rip = g->rcx;
            u->eflags = g->r11;
            u->rsp = g->rsp;
            v->vector = -1;
            return pysb_syscall_regs(u);
        }
        if (run->io.port >= 32)
            return K_GUEST_BUG;
        v->vector = run->io.port;
        v->err = top[-6];
        v->cr2 = top[-7];
        if ((top[-4] & 3) != 3 && !(v->vector == 14 && top[-5] == PYSB_KBASE + PYSB_T_SYSCALL))
            return K_GUEST_BUG; /* an exception in ring 0 */
        if (v->vector == 14 && top[-5] == PYSB_KBASE + PYSB_T_SYSCALL &&
            v->cr2 == top[-5] && (v->err & 0x14) == 0x14 &&
            pysb_user_byte(v, v->cr3, g->rcx - 2) == 0x0f &&
            pysb_user_byte(v, v->cr3, g->rcx - 1) == 0x05) {
            /* A user-mode fetch at LSTAR: `syscall` on a host that leaves
             * CPL at 3 (see the package docstring). rcx/r11 hold rip and
             * rflags as the instruction left them; rsp is unchanged. A jump
             * to LSTAR has no `syscall` (0f 05) just before rcx: that stays
             * the execute fault it is. */
            u->rip = g->rcx;
            u->eflags = g->r11;
            u->rsp = top[-2];
            return pysb_syscall_regs(u);
        }
        u->rip = top[-5];
        u->eflags = top[-3];
        u->rsp = top[-2];
        u->orig_rax = (uint64_t)-1; /* not in a system call */
        return v->vector == 14 ? K_FAULT : K_SIGNAL;
    }
}

/* Begin/end of a switch for the interrupt protocol; see _kvm.pyx. */
static inline int pysb_switch_begin(struct pysb_vcpu *v)
{
    __atomic_store_n(&v->tid, (int)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
    if (pysb_cas(&v->state, ST_IDLE, ST_RUNNING))
        return 1;
    __atomic_store_n(&v->state, ST_IDLE, __ATOMIC_SEQ_CST);
    return 0;
}

static inline void pysb_switch_end(struct pysb_vcpu *v, int kind)
{
    int old = __atomic_exchange_n(&v->state, ST_IDLE, __ATOMIC_SEQ_CST);
    if (old == ST_PENDING && kind != K_INTERRUPTED)
        pysb_cas(&v->state, ST_IDLE, ST_PENDING);
}

/* A present entry of `pml4` changed: vCPUs running on it must not keep
 * using the old translation once the Sentry goes on (Linux flushes remote
 * TLBs before munmap/mprotect return). Kick them out of the guest and wait
 * until they are out; they reload CR3 (and make the queued writes) when
 * they next enter. They report a (spurious) Interrupted. */
static void pysb_shootdown(struct pysb_vcpu *v, uint64_t pml4)
{
    /* Wait for the switch running now to end, not for the vCPU to stop
     * switching (it re-enters at once, and then sees the change). */
    uint64_t seq = __atomic_load_n(&v->switch_seq, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&v->active_pml4, __ATOMIC_SEQ_CST) != pml4)
        return;
    pysb_interrupt(v);
    while (__atomic_load_n(&v->active_pml4, __ATOMIC_SEQ_CST) == pml4 &&
           __atomic_load_n(&v->switch_seq, __ATOMIC_SEQ_CST) == seq)
        sched_yield();
}

static void pysb_kick_handler(int sig)
{
    (void)sig; /* only there to make KVM_RUN return EINTR */
}

static int pysb_install_kick(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = pysb_kick_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL);
}

static void pysb_segment(struct kvm_segment *s, uint16_t sel, uint8_t type, int code, int dpl)
{
    memset(s, 0, sizeof(*s));
    s->selector = sel;
    s->limit = 0xffffffff;
    s->type = type;
    s->present = 1;
    s->s = 1;
    s->g = 1;
    s->l = code;
    s->db = !code;
    s->dpl = dpl;
}

/* Long mode, ring 0, our GDT/IDT/TSS, syscall MSRs. CPUID must be set first
 * (CR4.OSXSAVE is checked against it). */
static int pysb_setup_vcpu(struct pysb_vcpu *v, uint64_t cr3, int xsave, uint64_t xcr0)
{
    struct kvm_sregs s;
    if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
        return -1;
    pysb_segment(&s.cs, PYSB_KERNEL_CS, 11, 1, 0);
    pysb_segment(&s.ss, PYSB_KERNEL_DS, 3, 0, 0);
    pysb_segment(&s.ds, 0, 3, 0, 3);
    s.es = s.fs = s.gs = s.ds;
    v->kcs = s.cs;
    v->kss = s.ss;
    memset(&s.tr, 0, sizeof(s.tr));
    s.tr.selector = PYSB_TSS_SEL;
    s.tr.base = PYSB_KBASE + PYSB_OFF_CPUS + PYSB_CPU_STRIDE * v->id + 0x80;
    s.tr.limit = 0x67;
    s.tr.type = 11;
    s.tr.present = 1;
    memset(&s.ldt, 0, sizeof(s.ldt));
    s.ldt.unusable = 1;
    s.gdt.base = PYSB_KBASE + PYSB_OFF_CPUS + PYSB_CPU_STRIDE * v->id;
    s.gdt.limit = 0x4f;
    s.idt.base = PYSB_KBASE + PYSB_OFF_IDT;
    s.idt.limit = 32 * 16 - 1;
    s.cr0 = 0x80050033; /* PG WP NE ET MP PE */
    s.cr3 = cr3;
    s.cr4 = 0x620 | (xsave ? 0x40000 : 0); /* PAE OSFXSR OSXMMEXCPT [OSXSAVE] */
    s.efer = 0xd01;                         /* NXE LMA LME SCE */
    if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
        return -1;
    v->cr3 = cr3;
    if (xsave) {
        struct kvm_xcrs x;
        memset(&x, 0, sizeof(x));
        x.nr_xcrs = 1;
        x.xcrs[0].xcr = 0;
        x.xcrs[0].value = xcr0;
        if (ioctl(v->fd, KVM_SET_XCRS, &x) < 0)
            return -1;
    }
    struct {
        struct kvm_msrs h;
        struct kvm_msr_entry e[5];
    } m;
    memset(&m, 0, sizeof(m));
    m.h.nmsrs = 5;
    m.e[0].index = 0xc0000081; /* STAR: syscall CS 0x10, sysret base 0x23 */
    m.e[0].data = (0x23ULL << 48) | ((uint64_t)PYSB_KERNEL_CS << 32);
    m.e[1].index = 0xc0000082; /* LSTAR */
    m.e[1].data = PYSB_KBASE + PYSB_T_SYSCALL;
    m.e[2].index = 0xc0000084; /* SFMASK: TF DF IF IOPL AC NT, as Linux */
    m.e[2].data = 0x47700;
    m.e[3].index = 0xc0000100; /* FS_BASE */
    m.e[4].index = 0xc0000101; /* GS_BASE */
    if (ioctl(v->fd, KVM_SET_MSRS, &m) != 5) {
        if (errno == 0)
            errno = EINVAL;
        return -1;
    }
    v->fs_base = v->gs_base = 0;
    v->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
    return 0;
}

#endif
