// sentry-needs-root
/* Permission checks as an unprivileged user: the program starts as root,
 * prepares files, then drops to uid/gid 65534 with setgroups/setgid/setuid. */
#include "vfs_check.h"
#include <grp.h>

int main(int argc, char **argv) {
    enter_scratch(argc, argv);
    if (getuid() != 0) {
        printf("needs root\n");
        return 3;
    }
    chmod(".", 0777);
    mkdir("closed", 0700);
    close(open("closed/f", O_CREAT | O_WRONLY, 0644));
    close(open("rootonly", O_CREAT | O_WRONLY, 0600));
    close(open("readable", O_CREAT | O_WRONLY, 0644));
    close(open("grp", O_CREAT | O_WRONLY, 0060));
    chmod("grp", 0060); /* umask 022 trimmed the creation mode */
    chown("grp", 0, 4242);
    close(open("script", O_CREAT | O_WRONLY, 0644));
    mkdir("sticky", 0777);
    chmod("sticky", 01777);
    close(open("sticky/roots", O_CREAT | O_WRONLY, 0666));
    mkdir("ro-dir", 0555);

    gid_t groups[] = {4242};
    EXPECT(setgroups(1, groups), 0);
    EXPECT(setgid(65534), 0);
    EXPECT(setuid(65534), 0);

    EXPECT(open("rootonly", O_RDONLY), EACCES);
    EXPECT(open("readable", O_RDONLY), 0);
    EXPECT(open("readable", O_RDONLY | O_NOATIME), EPERM);
    EXPECT(fcntl(open("readable", O_RDONLY), F_SETFL, O_NOATIME), EPERM);
    EXPECT(open("readable", O_WRONLY), EACCES);
    EXPECT(open("readable", O_RDONLY | O_TRUNC), EACCES);
    EXPECT(open("grp", O_RDWR), 0);
    EXPECT(open("closed/f", O_RDONLY), EACCES);
    EXPECT(stat("closed/f", &(struct stat){0}), EACCES);
    EXPECT(access("closed", F_OK), 0);
    EXPECT(access("readable", W_OK), EACCES);
    EXPECT(access("readable", R_OK), 0);
    EXPECT(access("script", X_OK), EACCES);
    EXPECT(chmod("readable", 0666), EPERM);
    EXPECT(chown("readable", 65534, -1), EPERM);
    EXPECT(truncate("readable", 0), EACCES);
    EXPECT(utimensat(AT_FDCWD, "readable", NULL, 0), EACCES);
    EXPECT(utimensat(AT_FDCWD, "readable", (struct timespec[2]){{1, 0}, {1, 0}}, 0), EPERM);
    EXPECT(mkdir("ro-dir/x", 0755), EACCES);
    EXPECT(open("ro-dir/x", O_CREAT | O_WRONLY, 0644), EACCES);
    EXPECT(unlink("sticky/roots"), EPERM);
    EXPECT(rename("sticky/roots", "sticky/mine"), EPERM);
    int mine = open("sticky/mine", O_CREAT | O_WRONLY, 0644);
    EXPECT(mine, 0);
    struct stat st;
    fstat(mine, &st);
    printf("new file owner=%d group=%d mode=%o\n", st.st_uid, st.st_gid, st.st_mode);
    EXPECT(chmod("sticky/mine", 0600), 0);
    EXPECT(fchown(mine, -1, 4242), 0);
    EXPECT(fchown(mine, -1, 1), EPERM);
    EXPECT(unlink("sticky/mine"), 0);
    EXPECT(chdir("closed"), EACCES);
    /* Hard links to others' files depend on fs.protected_hardlinks: not tested. */
    return finish();
}
