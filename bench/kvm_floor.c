/*
 * The floor under the KVM platform: a minimal VMM in C that puts a guest in
 * long mode with a ring-3 loop doing `syscall` (getpid), takes the system
 * call into ring 0, exits to the VMM, and returns to ring 3 -- the raw round
 * trip that sentry.platform.kvm's Context.switch pays plus Python. Compare
 * bench/kvm_bench.py.
 *
 * Build and run:
 *     gcc -O2 -o /tmp/kvm_floor bench/kvm_floor.c && /tmp/kvm_floor [iterations]
 *
 * The guest uses the same entry, system-call and exception bytes, GDT/IDT/
 * TSS and kernel mapping as sentry/platform/kvm (see its package docstring;
 * the package adds the page-table UPDATE pass, which this loop never needs):
 *
 *   - ring 0 lives on one supervisor-only 2 MiB page at 0xffffffff80000000
 *     (guest physical 0); LSTAR points at its first bytes;
 *   - the VMM enters ring 3 by pointing rip at an `iretq` with an iret frame
 *     it wrote on the vCPU's IST stack (so no KVM_SET_SREGS per switch);
 *   - where `syscall` works (bare metal), LSTAR runs `out %al,$0xff` at CPL0;
 *   - where it does not (these nested AMD VMs: the outer hypervisor jumps to
 *     LSTAR but leaves CPL at 3), the fetch from the supervisor page is a #PF
 *     (error 0x15, CR2 = LSTAR) delivered through the IDT with the IST stack
 *     switch; its handler pushes CR2 and runs `out %al,$14`; the VMM
 *     recognises "user fetch at LSTAR" as the system call;
 *   - registers come and go through kvm_run's sync_regs (KVM_CAP_SYNC_REGS),
 *     so a round trip is exactly one KVM_RUN ioctl.
 *
 * Modes measured:
 *   exit     ring-0 loop `out; jmp` -- the bare cost of one exit to the VMM;
 *   inguest  ring-3 `syscall` handled entirely inside the guest (the #PF or
 *            LSTAR handler `iretq`s straight back), counted by a guest
 *            counter; the VMM only sees one exit per 100000 calls;
 *   syscall  the full round trip per system call (the floor).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (4UL << 20)
#define KBASE 0xffffffff80000000UL
#define USER_CODE 0x400000UL
#define USER_CODE_GPA 0x300000UL

/* Private-region layout (guest physical == offset), as in the package. */
#define CODE_GPA 0x0000UL
#define IDT_GPA 0x1000UL
#define KPDPT_GPA 0x2000UL
#define KPD_GPA 0x3000UL
#define CPU_GPA 0x10000UL /* GDT at +0, TSS at +0x80 */
#define KSTACK_TOP_GPA 0x12000UL
#define PML4_GPA 0x200000UL
#define PDPT_GPA 0x201000UL
#define PD_GPA 0x202000UL
#define PT_GPA 0x203000UL

#define OFF_SYSCALL 0x000
#define OFF_ENTER 0x010
#define OFF_ENTER_FLUSH 0x018
#define OFF_VECTORS 0x100
#define OFF_INGUEST 0x400 /* the in-guest variants, for the "inguest" mode */
#define OFF_EXITLOOP 0x480

#define PTE_P 1UL
#define PTE_W 2UL
#define PTE_U 4UL
#define PTE_PS 0x80UL

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int has_error_code(int v)
{
    return v == 8 || v == 10 || v == 11 || v == 12 || v == 13 || v == 14 || v == 17 ||
           v == 21 || v == 29 || v == 30;
}

static void write_trampoline(uint8_t *code)
{
    /* LSTAR: out %al,$0xff; jmp . */
    static const uint8_t sys[] = {0xe6, 0xff, 0xeb, 0xfe};
    /* iretq */
    static const uint8_t enter[] = {0x48, 0xcf};
    /* xchg %rax,(%rsp); mov %rax,%cr3; pop %rax; iretq */
    static const uint8_t flush[] = {0x48, 0x87, 0x04, 0x24, 0x0f, 0x22, 0xd8, 0x58, 0x48, 0xcf};
    memset(code, 0xcc, 0x1000);
    memcpy(code + OFF_SYSCALL, sys, sizeof(sys));
    memcpy(code + OFF_ENTER, enter, sizeof(enter));
    memcpy(code + OFF_ENTER_FLUSH, flush, sizeof(flush));
    for (int v = 0; v < 32; v++) {
        uint8_t *p = code + OFF_VECTORS + 16 * v;
        if (!has_error_code(v)) {
            *p++ = 0x6a; /* push $0 (error code slot) */
            *p++ = 0x00;
        }
        if (v == 14) { /* push %rax; mov %cr2,%rax; xchg %rax,(%rsp) */
            static const uint8_t cr2[] = {0x50, 0x0f, 0x20, 0xd0, 0x48, 0x87, 0x04, 0x24};
            memcpy(p, cr2, sizeof(cr2));
            p += sizeof(cr2);
        } else {
            *p++ = 0x6a; /* push $0 (cr2 slot) */
            *p++ = 0x00;
        }
        *p++ = 0xe6; /* out %al,$v */
        *p++ = (uint8_t)v;
        *p++ = 0xeb; /* jmp . */
        *p++ = 0xfe;
    }
    /* The "inguest" mode's #PF handler (also its LSTAR, which on this host
     * faults the same way; on bare metal this mode would need sysretq):
     * return to ring 3 at rcx with r11's flags, count calls in r12, and
     * exit to the VMM after 100000. */
    static const uint8_t ing_pf[] = {
        0x48, 0x83, 0xc4, 0x08,             /* add $8,%rsp        drop error code */
        0x48, 0x89, 0x0c, 0x24,             /* mov %rcx,(%rsp)    rip = rcx */
        0x4c, 0x89, 0x5c, 0x24, 0x10,       /* mov %r11,0x10(%rsp) rflags = r11 */
        0x49, 0xff, 0xc4,                   /* inc %r12 */
        0x49, 0x81, 0xfc, 0xa0, 0x86, 0x01, 0x00, /* cmp $100000,%r12 */
        0x74, 0x02,                         /* je +2 */
        0x48, 0xcf,                         /* iretq */
        0xe6, 0xfe,                         /* out %al,$0xfe */
        0xeb, 0xfe,                         /* jmp . */
    };
    memcpy(code + OFF_INGUEST, ing_pf, sizeof(ing_pf));
    /* Ring-0 exit loop: out %al,$0xfd; jmp back */
    static const uint8_t exitloop[] = {0xe6, 0xfd, 0xeb, 0xfc};
    memcpy(code + OFF_EXITLOOP, exitloop, sizeof(exitloop));
}

static void set_gate(uint8_t *idt, int v, uint64_t target, int dpl)
{
    uint8_t *g = idt + 16 * v;
    memset(g, 0, 16);
    g[0] = target & 0xff;
    g[1] = (target >> 8) & 0xff;
    g[2] = 0x10; /* selector: kernel CS */
    g[3] = 0;
    g[4] = 1;                              /* IST1 */
    g[5] = 0x8e | (dpl << 5);              /* present, 64-bit interrupt gate */
    g[6] = (target >> 16) & 0xff;
    g[7] = (target >> 24) & 0xff;
    *(uint32_t *)(g + 8) = (uint32_t)(target >> 32);
}

static void write_tables(uint8_t *mem, int inguest)
{
    uint64_t *q;
    /* IDT: 32 vectors; int3 is DPL3 so `int3` from ring 3 reaches it. */
    for (int v = 0; v < 32; v++)
        set_gate(mem + IDT_GPA, v, KBASE + OFF_VECTORS + 16 * v, v == 3 ? 3 : 0);
    if (inguest)
        set_gate(mem + IDT_GPA, 14, KBASE + OFF_INGUEST, 0);
    /* GDT: 0x10 kernel code, 0x18 kernel data, 0x2b user data, 0x33 user
     * code (Linux's selectors), 0x40 TSS. */
    q = (uint64_t *)(mem + CPU_GPA);
    memset(q, 0, 0x80);
    q[2] = 0x00af9b000000ffffUL;
    q[3] = 0x00cf93000000ffffUL;
    q[5] = 0x00cff3000000ffffUL;
    q[6] = 0x00affb000000ffffUL;
    uint64_t tss = KBASE + CPU_GPA + 0x80;
    q[8] = 0x67 | ((tss & 0xffffff) << 16) | (0x89UL << 40) | (((tss >> 24) & 0xff) << 56);
    q[9] = tss >> 32;
    uint8_t *t = mem + CPU_GPA + 0x80;
    memset(t, 0, 0x68);
    *(uint64_t *)(t + 4) = KBASE + KSTACK_TOP_GPA;    /* RSP0 */
    *(uint64_t *)(t + 0x24) = KBASE + KSTACK_TOP_GPA; /* IST1 */
    *(uint16_t *)(t + 0x66) = 0x68;                   /* no I/O bitmap */
    /* Kernel half: PML4[511] -> PDPT[510] -> PD[0] = 2 MiB at GPA 0. */
    ((uint64_t *)(mem + PML4_GPA))[511] = KPDPT_GPA | PTE_P | PTE_W;
    ((uint64_t *)(mem + KPDPT_GPA))[510] = KPD_GPA | PTE_P | PTE_W;
    ((uint64_t *)(mem + KPD_GPA))[0] = 0 | PTE_P | PTE_W | PTE_PS;
    /* User code page. */
    ((uint64_t *)(mem + PML4_GPA))[0] = PDPT_GPA | PTE_P | PTE_W | PTE_U;
    ((uint64_t *)(mem + PDPT_GPA))[0] = PD_GPA | PTE_P | PTE_W | PTE_U;
    ((uint64_t *)(mem + PD_GPA))[USER_CODE >> 21] = PT_GPA | PTE_P | PTE_W | PTE_U;
    ((uint64_t *)(mem + PT_GPA))[(USER_CODE >> 12) & 511] = USER_CODE_GPA | PTE_P | PTE_U;
    /* mov $39,%eax; syscall; jmp back */
    static const uint8_t loop[] = {0xb8, 0x27, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7};
    memcpy(mem + USER_CODE_GPA, loop, sizeof(loop));
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, int code)
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
    s->dpl = 0;
}

struct vm {
    int kvm, vm, vcpu;
    struct kvm_run *run;
    uint8_t *mem;
};

static void setup(struct vm *m, int inguest)
{
    m->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (m->kvm < 0)
        die("/dev/kvm");
    if (ioctl(m->kvm, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS) <= 0) {
        fprintf(stderr, "KVM_CAP_SYNC_REGS missing\n");
        exit(1);
    }
    m->vm = ioctl(m->kvm, KVM_CREATE_VM, 0);
    if (m->vm < 0)
        die("KVM_CREATE_VM");
    ioctl(m->vm, KVM_SET_TSS_ADDR, 0xfffbd000UL); /* Intel only; harmless */
    m->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m->mem == MAP_FAILED)
        die("mmap");
    write_trampoline(m->mem + CODE_GPA);
    write_tables(m->mem, inguest);
    struct kvm_userspace_memory_region r = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE,
        .userspace_addr = (uint64_t)m->mem};
    if (ioctl(m->vm, KVM_SET_USER_MEMORY_REGION, &r) < 0)
        die("KVM_SET_USER_MEMORY_REGION");
    m->vcpu = ioctl(m->vm, KVM_CREATE_VCPU, 0);
    if (m->vcpu < 0)
        die("KVM_CREATE_VCPU");
    int sz = ioctl(m->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    m->run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, m->vcpu, 0);
    if (m->run == MAP_FAILED)
        die("mmap run");

    /* CPUID: what KVM supports, as any VMM sets. */
    int n = 256;
    struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(struct kvm_cpuid_entry2));
    cpuid->nent = n;
    if (ioctl(m->kvm, KVM_GET_SUPPORTED_CPUID, cpuid) < 0)
        die("KVM_GET_SUPPORTED_CPUID");
    if (ioctl(m->vcpu, KVM_SET_CPUID2, cpuid) < 0)
        die("KVM_SET_CPUID2");
    free(cpuid);

    struct kvm_sregs s;
    if (ioctl(m->vcpu, KVM_GET_SREGS, &s) < 0)
        die("KVM_GET_SREGS");
    seg(&s.cs, 0x10, 11, 1);
    seg(&s.ss, 0x18, 3, 0);
    seg(&s.ds, 0, 3, 0);
    s.ds.dpl = 3;
    s.es = s.fs = s.gs = s.ds;
    memset(&s.tr, 0, sizeof(s.tr));
    s.tr.selector = 0x40;
    s.tr.base = KBASE + CPU_GPA + 0x80;
    s.tr.limit = 0x67;
    s.tr.type = 11;
    s.tr.present = 1;
    s.gdt.base = KBASE + CPU_GPA;
    s.gdt.limit = 0x4f;
    s.idt.base = KBASE + IDT_GPA;
    s.idt.limit = 32 * 16 - 1;
    s.cr0 = 0x80050033; /* PG WP NE ET MP PE */
    s.cr3 = PML4_GPA;
    s.cr4 = 0x620; /* PAE OSFXSR OSXMMEXCPT */
    s.efer = 0xd01; /* NXE LMA LME SCE */
    if (ioctl(m->vcpu, KVM_SET_SREGS, &s) < 0)
        die("KVM_SET_SREGS");

    struct {
        struct kvm_msrs h;
        struct kvm_msr_entry e[3];
    } msrs = {0};
    msrs.h.nmsrs = 3;
    msrs.e[0].index = 0xc0000081; /* STAR */
    msrs.e[0].data = (0x23UL << 48) | (0x10UL << 32);
    msrs.e[1].index = 0xc0000082; /* LSTAR */
    msrs.e[1].data = KBASE + (inguest ? OFF_INGUEST : OFF_SYSCALL);
    msrs.e[2].index = 0xc0000084; /* SFMASK: TF DF IF IOPL AC NT */
    msrs.e[2].data = 0x47700;
    if (ioctl(m->vcpu, KVM_SET_MSRS, &msrs) != 3)
        die("KVM_SET_MSRS");
    m->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
}

/* Enter ring 3 at rip/rsp/rflags with the IST-stack iret frame. */
static void enter_user(struct vm *m, uint64_t rip, uint64_t rsp, uint64_t rflags)
{
    uint64_t *f = (uint64_t *)(m->mem + KSTACK_TOP_GPA) - 5;
    f[0] = rip;
    f[1] = 0x33;
    f[2] = rflags;
    f[3] = rsp;
    f[4] = 0x2b;
    struct kvm_regs *r = &m->run->s.regs.regs;
    r->rip = KBASE + OFF_ENTER;
    r->rsp = KBASE + KSTACK_TOP_GPA - 40;
    r->rflags = 2;
    m->run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
}

static void run(struct vm *m)
{
    if (ioctl(m->vcpu, KVM_RUN, 0) < 0)
        die("KVM_RUN");
}

static const char *path_name = "?";

/* One round trip: returns 0 for a system call, dies otherwise. */
static void syscall_round_trip(struct vm *m, uint64_t *rip, uint64_t *rsp, uint64_t *rflags)
{
    enter_user(m, *rip, *rsp, *rflags);
    run(m);
    struct kvm_run *k = m->run;
    struct kvm_regs *r = &k->s.regs.regs;
    if (k->exit_reason != KVM_EXIT_IO) {
        fprintf(stderr, "unexpected exit %u at rip %llx\n", k->exit_reason, r->rip);
        exit(1);
    }
    uint64_t *top = (uint64_t *)(m->mem + KSTACK_TOP_GPA);
    if (k->io.port == 0xff) { /* LSTAR at CPL0: the hardware syscall path */
        path_name = "LSTAR (hardware syscall)";
        *rsp = r->rsp;
    } else if (k->io.port == 14 && top[-7] == KBASE + OFF_SYSCALL && top[-5] == KBASE + OFF_SYSCALL) {
        path_name = "#PF at LSTAR (emulated syscall at CPL3)";
        *rsp = top[-2];
    } else {
        fprintf(stderr, "unexpected vector %u: rip %llx err %llx cr2 %llx\n", k->io.port,
                (unsigned long long)top[-5], (unsigned long long)top[-6],
                (unsigned long long)top[-7]);
        exit(1);
    }
    if (r->rax != 39) {
        fprintf(stderr, "rax %llx\n", r->rax);
        exit(1);
    }
    *rip = r->rcx;
    *rflags = r->r11;
    r->rax = 39; /* what the "Sentry" returns */
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 20000;
    struct vm m;
    double t0, best;

    /* exit: ring-0 `out` loop. */
    setup(&m, 0);
    m.run->s.regs.regs.rip = KBASE + OFF_EXITLOOP;
    m.run->s.regs.regs.rsp = KBASE + KSTACK_TOP_GPA;
    m.run->s.regs.regs.rflags = 2;
    m.run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
    best = 1e9;
    for (int b = 0; b < 5; b++) {
        t0 = now();
        for (long i = 0; i < iters; i++) {
            run(&m);
            if (m.run->exit_reason != KVM_EXIT_IO || m.run->io.port != 0xfd) {
                fprintf(stderr, "exit loop: unexpected exit %u\n", m.run->exit_reason);
                return 1;
            }
        }
        double dt = (now() - t0) / iters;
        if (dt < best)
            best = dt;
    }
    printf("exit     (ring-0 out -> VMM -> ring 0):            %7.2f us\n", best * 1e6);

    /* syscall: the full round trip. */
    setup(&m, 0);
    uint64_t rip = USER_CODE, rsp = 0x7ff000, rflags = 0x202;
    syscall_round_trip(&m, &rip, &rsp, &rflags);
    best = 1e9;
    for (int b = 0; b < 5; b++) {
        t0 = now();
        for (long i = 0; i < iters; i++)
            syscall_round_trip(&m, &rip, &rsp, &rflags);
        double dt = (now() - t0) / iters;
        if (dt < best)
            best = dt;
    }
    printf("syscall  (ring 3 -> ring 0 -> VMM -> ring 3):       %7.2f us   via %s\n", best * 1e6,
           path_name);

    /* inguest: the guest's own round trip, no VMM. */
    setup(&m, 1);
    best = 1e9;
    for (int b = 0; b < 3; b++) {
        m.run->s.regs.regs.r12 = 0;
        enter_user(&m, USER_CODE, 0x7ff000, 0x202);
        t0 = now();
        run(&m);
        double dt = (now() - t0) / 100000;
        if (m.run->exit_reason != KVM_EXIT_IO || m.run->io.port != 0xfe) {
            fprintf(stderr, "inguest: unexpected exit %u port %u\n", m.run->exit_reason,
                    m.run->io.port);
            return 1;
        }
        if (dt < best)
            best = dt;
    }
    printf("inguest  (ring 3 -> ring 0 -> ring 3, no VMM exit):  %7.2f us\n", best * 1e6);
    return 0;
}
