/* `kvmm ctl SOCKET COMMAND [KEY=VALUE...]`: a small QMP client for
 * people: negotiates, sends one command, prints the reply. */
#ifndef KVMM_CTL_CLIENT_H
#define KVMM_CTL_CLIENT_H

/* argv[0] is "ctl".  Exit status: 0, 1 on an error reply or a failed
 * connection, 2 on a usage error. */
int ctl_client_main(int argc, char **argv);

#endif
