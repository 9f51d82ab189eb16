/*
 * Paths kvmm writes to or listens on: checked with the spec, so a bad one
 * is a usage error (exit 2) before anything starts, not a failure once
 * the VM is being built or the control socket bound.
 */
#include "spec.h"
#include "spec_json.h"
#include "spec_out.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

_Static_assert(SPEC_CONTROL_PATH_MAX == sizeof(((struct sockaddr_un *)0)->sun_path) - 1,
	       "a control socket path and its NUL fill sun_path");

/* 0, or the errno that keeps kvmm from creating a file in path's directory. */
static int out_dir_check(const char *path)
{
	char *copy = strdup(path);
	const char *dir;
	struct stat st;
	int e = 0;

	if (!copy)
		return ENOMEM;
	dir = dirname(copy);
	if (stat(dir, &st))
		e = errno;
	else if (!S_ISDIR(st.st_mode))
		e = ENOTDIR;
	else if (access(dir, W_OK | X_OK))
		e = errno;
	free(copy);
	return e;
}

int spec_output_file_check(const char *path, const char *label, char *err, size_t errlen)
{
	char buf[256];
	struct stat st;
	int e;

	if (!stat(path, &st) && !S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode) &&
	    !S_ISCHR(st.st_mode))
		/* A FIFO or socket: opening or writing it could wait forever. */
		return spec_fail(err, errlen, label, "%s: not a regular file or character device",
				 spec_show(path, buf, sizeof(buf)));
	if (!stat(path, &st))
		e = S_ISDIR(st.st_mode) ? EISDIR : access(path, W_OK) ? errno : 0;
	else if (errno == ENOENT)
		e = out_dir_check(path);
	else
		e = errno;
	if (e)
		return spec_fail(err, errlen, label, "cannot write %s: %s",
				 spec_show(path, buf, sizeof(buf)), strerror(e));
	return 0;
}

int spec_control_path_check(const char *path, const char *label, char *err, size_t errlen)
{
	size_t n = strlen(path);
	char buf[256];
	int e;

	if (n == 0)
		return spec_fail(err, errlen, label, "expected a socket path, got \"\"");
	if (n > SPEC_CONTROL_PATH_MAX)
		return spec_fail(err, errlen, label,
				 "expected a socket path of at most %d bytes, got %zu",
				 SPEC_CONTROL_PATH_MAX, n);
	e = out_dir_check(path);
	if (e)
		return spec_fail(err, errlen, label, "cannot create %s: %s",
				 spec_show(path, buf, sizeof(buf)), strerror(e));
	return 0;
}
