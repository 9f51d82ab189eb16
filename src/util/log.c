#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum log_level current_level = LOG_WARN;

void log_set_level(enum log_level level)
{
    current_level = level;
}

bool log_enabled(enum log_level level)
{
    return level <= current_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
    char line[1024];
    int n;
    va_list ap;

    if (!log_enabled(level))
        return;
    n = snprintf(line, sizeof(line), "kvmm: %s", prefix[level]);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - n - 2, fmt, ap);
    va_end(ap);
    n = strlen(line);
    /* The terminal may be in raw mode while a guest runs: end with CR LF. */
    line[n++] = isatty(STDERR_FILENO) ? '\r' : '\n';
    if (line[n - 1] == '\r')
        line[n++] = '\n';
    line[n] = '\0';
    /* One write() per line keeps lines from different threads whole. */
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}
