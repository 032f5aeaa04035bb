/* Executes one faulting instruction chosen by argv[1]; the process must die
 * of the signal Linux gives for it (arch/x86/kernel/traps.c). Prints the
 * name first so that a run that never reached the fault is visible. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile int zero;

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    const char *what = argv[1];
    printf("%s\n", what);
    fflush(stdout);
    if (!strcmp(what, "null")) {
        return *(volatile int *)0; /* SIGSEGV */
    } else if (!strcmp(what, "write-text")) {
        *(volatile char *)main = 0; /* SIGSEGV: text is read-only */
    } else if (!strcmp(what, "int3")) {
        __asm__ volatile("int3"); /* SIGTRAP */
    } else if (!strcmp(what, "ud2")) {
        __asm__ volatile("ud2"); /* SIGILL */
    } else if (!strcmp(what, "hlt")) {
        __asm__ volatile("hlt"); /* #GP: SIGSEGV */
    } else if (!strcmp(what, "cli")) {
        __asm__ volatile("cli"); /* #GP: SIGSEGV */
    } else if (!strcmp(what, "inb")) {
        unsigned char v;
        __asm__ volatile("inb $0x80, %0" : "=a"(v)); /* #GP: SIGSEGV */
    } else if (!strcmp(what, "divzero")) {
        unsigned int q = 1, d = zero; /* in asm: gcc rewrites 1 / x without a division */
        __asm__ volatile("xor %%edx, %%edx; divl %1" : "+a"(q) : "r"(d) : "edx"); /* #DE: SIGFPE */
    } else if (!strcmp(what, "jump-null")) {
        ((void (*)(void))0)(); /* SIGSEGV on the fetch */
    }
    return 3;
}
