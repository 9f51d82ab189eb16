/* exec_to_first RUNS PATTERN -- COMMAND [ARGS...]
 *
 * Runs COMMAND RUNS times, one after the other, with its stderr on a pipe,
 * and prints one line per run:
 *
 *     <first_us> <total_us> <status> <cpu_us>
 *
 * first_us: microseconds (CLOCK_MONOTONIC) from just before execve() in the
 * child to the moment the parent's read() returns the line containing
 * PATTERN; -1 if it never came.  total_us: to the child's exit.  status:
 * the exit status (128+N for a signal).  cpu_us: the user + system CPU
 * time COMMAND used over its whole run (all threads).  The child takes the start stamp
 * itself and hands it over on a close-on-exec pipe, so fork() costs are not
 * counted.  COMMAND's stdout and stdin are /dev/null. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int run_once(const char *pattern, char **argv)
{
    int errp[2], stamp[2], status;
    struct rusage ru;
    long long t0 = 0, t_first = -1, t_end;
    char buf[8192];
    size_t used = 0;
    pid_t pid;

    if (pipe2(errp, O_CLOEXEC) || pipe2(stamp, O_CLOEXEC)) {
        perror("pipe");
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        long long t;

        dup2(null, 0);
        dup2(null, 1);
        dup2(errp[1], 2);
        t = now_ns();
        if (write(stamp[1], &t, sizeof(t)) != sizeof(t))
            _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(errp[1]);
    close(stamp[1]);
    if (read(stamp[0], &t0, sizeof(t0)) != sizeof(t0)) {
        fprintf(stderr, "exec_to_first: no start stamp\n");
        return -1;
    }
    close(stamp[0]);
    for (;;) {
        ssize_t n = read(errp[0], buf + used, sizeof(buf) - 1 - used);
        long long t = now_ns();

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (t_first >= 0)
            continue;           /* drain the rest */
        used += (size_t)n;
        buf[used] = '\0';
        if (strstr(buf, pattern)) {
            t_first = t;
            continue;
        }
        /* Keep only the unfinished last line. */
        char *nl = strrchr(buf, '\n');
        if (nl) {
            used = strlen(nl + 1);
            memmove(buf, nl + 1, used + 1);
        } else if (used >= sizeof(buf) - 1) {
            used = 0;
        }
    }
    close(errp[0]);
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
        ;
    t_end = now_ns();
    printf("%lld %lld %d %lld\n", t_first < 0 ? -1 : (t_first - t0) / 1000,
           (t_end - t0) / 1000,
           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
           (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
               ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    int runs;

    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: %s RUNS PATTERN -- COMMAND [ARGS...]\n", argv[0]);
        return 2;
    }
    runs = atoi(argv[1]);
    for (int i = 0; i < runs; i++)
        if (run_once(argv[2], argv + 4))
            return 1;
    return 0;
}
