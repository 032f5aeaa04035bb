/* What a handler learns about hardware faults: signal, si_code and si_addr
 * (relative to the faulting instruction or page) for a null dereference, a
 * write to a read-only page, hlt, int3, ud2, a privileged instruction
 * (cli), an integer divide by zero and a general-protection fault from a
 * non-canonical address. Both platforms must report what Linux reports. */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static sigjmp_buf jb;
static volatile int got_sig, got_code;
static void *volatile got_addr;

static void handler(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    got_sig = sig;
    got_code = si->si_code;
    got_addr = si->si_addr;
    siglongjmp(jb, 1);
}

#define TRY(name, insn_label, body)                                            \
    do {                                                                       \
        got_sig = 0;                                                           \
        if (sigsetjmp(jb, 1) == 0) {                                           \
            body;                                                              \
            printf("%s: no signal\n", name);                                   \
        } else {                                                               \
            printf("%s: sig %d code %d addr %s\n", name, got_sig, got_code,    \
                   describe(got_addr, insn_label));                            \
        }                                                                      \
    } while (0)

static char *page;
static char buf[64];

static const char *describe(void *addr, void *insn) {
    if (addr == NULL) return "null";
    if (insn && addr == insn) return "insn";
    if ((char *)addr >= page && (char *)addr < page + 4096) {
        snprintf(buf, sizeof buf, "page+%ld", (long)((char *)addr - page));
        return buf;
    }
    return "other";
}

extern char hlt_at[], int3_at[], ud2_at[], cli_at[], div_at[];

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE};
    for (unsigned i = 0; i < sizeof sigs / sizeof *sigs; i++) sigaction(sigs[i], &sa, NULL);
    page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    TRY("null read", NULL, (void)*(volatile int *)0);
    TRY("null write", NULL, *(volatile int *)8 = 1);
    TRY("read-only write", NULL, page[100] = 1);
    TRY("hlt", hlt_at, __asm__ volatile("hlt_at: hlt"));
    TRY("int3", int3_at, __asm__ volatile("int3_at: int3"));
    TRY("ud2", ud2_at, __asm__ volatile("ud2_at: ud2"));
    TRY("cli", cli_at, __asm__ volatile("cli_at: cli"));
    TRY("divide", div_at,
        __asm__ volatile("xor %%ecx, %%ecx\n mov $1, %%eax\n cltd\ndiv_at: idiv %%ecx" ::: "eax", "ecx", "edx"));
    TRY("non-canonical", NULL, (void)*(volatile long *)0x8000000000000000UL);
    return 0;
}
