/* The control socket: a Unix socket speaking QMP (docs/control.md).  It
 * runs on the main thread's event loop; commands act on the VMs through
 * the supervisor. */
#ifndef KVMM_CTL_SERVER_H
#define KVMM_CTL_SERVER_H

#include <stddef.h>
#include "types.h"

struct ctl_server;
struct evloop;
struct supervisor;

/* Create the socket at path (mode 0600).  Refuses a path where a server
 * answers or that is not a socket; removes a stale socket. */
int ctl_server_open(struct ctl_server **out, const char *path, struct evloop *loop,
                    char *err, size_t errlen) WUR;
/* The VMs the commands act on; set once they exist. */
void ctl_server_set_supervisor(struct ctl_server *srv, struct supervisor *sup);
/* Deliver pending events, flush replies (briefly), close, remove the socket. */
void ctl_server_close(struct ctl_server *srv);

#endif
