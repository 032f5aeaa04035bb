"""Thread behaviour that is not a native-vs-Sentry comparison: what
happens at the platform's limits (threads beyond the kvm platform's vCPUs,
a platform that cannot run threads at all) must be a clean EAGAIN from
pthread_create, never a stopped sandbox."""

from __future__ import annotations

import errno

from integration._sentry import workdir  # noqa: F401 - fixture
from integration.syscalls import harness

MANY_THREADS = r"""
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&m);  /* every thread blocks on it: all stay alive */
    int made = 0, err = 0;
    for (int i = 0; i < 200; i++) {
        pthread_attr_t at;
        pthread_t th;
        pthread_attr_init(&at);
        pthread_attr_setstacksize(&at, 65536);
        err = pthread_create(&th, &at, (void *(*)(void *))pthread_mutex_lock, &m);
        if (err) break;
        made++;
    }
    printf("%d %d\n", made, err);
    fflush(stdout);
    _exit(0);  /* exit_group ends the blocked threads */
}
"""


def test_thread_limits_end_in_eagain(workdir, sentry_platform):  # noqa: F811
    source = workdir / "many_threads.c"
    source.write_text(MANY_THREADS)
    binary = harness.compile_c(source, workdir, static=True)
    result = harness.run_sentry([str(binary)], workdir)
    assert result.status == 0, result.stderr
    made, err = (int(x) for x in result.stdout.split())
    reason = harness.threads_skip_reason(sentry_platform)
    if reason is not None:
        assert (made, err) == (0, errno.EAGAIN)
    else:
        assert made == 200 or (made >= 100 and err == errno.EAGAIN), (made, err)
