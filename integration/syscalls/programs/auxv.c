/* The auxiliary vector the loader builds (no vDSO entry is compared). */
#include <elf.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

int main(int argc, char **argv) {
    printf("pagesz %lu\n", getauxval(AT_PAGESZ));
    printf("clktck %lu\n", getauxval(AT_CLKTCK));
    printf("secure %lu\n", getauxval(AT_SECURE));
    printf("uid match %d\n", getauxval(AT_UID) == getuid() && getauxval(AT_EUID) == geteuid());
    printf("gid match %d\n", getauxval(AT_GID) == getgid() && getauxval(AT_EGID) == getegid());
    printf("platform %s\n", (char *)getauxval(AT_PLATFORM));
    printf("execfn is argv0 %d\n", strcmp((char *)getauxval(AT_EXECFN), argv[0]) == 0);
    printf("phent %lu\n", getauxval(AT_PHENT));
    Elf64_Phdr *ph = (Elf64_Phdr *)getauxval(AT_PHDR);
    printf("phdr readable %d\n", ph != NULL && ph[0].p_type != 0xffffffff);
    printf("random set %d\n", getauxval(AT_RANDOM) != 0);
    printf("hwcap set %d\n", getauxval(AT_HWCAP) != 0);
    printf("entry set %d\n", getauxval(AT_ENTRY) != 0);
    return 0;
}
