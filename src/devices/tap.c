#include "devices/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define TAP_DEV "/dev/net/tun"

/* Every tun and interface ioctl goes through here: -errno on failure. */
static int tap_ioctl(int fd, unsigned long req, void *arg)
{
    int ret;

    do {
        ret = ioctl(fd, req, arg);
    } while (ret < 0 && errno == EINTR);
    return ret < 0 ? -errno : ret;
}

/* SIOC[GS]IF* need a socket, not the tun fd. */
static int tap_if_ioctl(const char *name, unsigned long req, struct ifreq *ifr)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret;

    if (s < 0)
        return -errno;
    snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
    ret = tap_ioctl(s, req, ifr);
    close(s);
    return ret;
}

static int tap_link_up(const struct tap *t)
{
    struct ifreq ifr = { 0 };
    int ret = tap_if_ioctl(t->name, SIOCGIFFLAGS, &ifr);

    if (ret || (ifr.ifr_flags & IFF_UP))
        return ret;
    ifr.ifr_flags |= IFF_UP;
    return tap_if_ioctl(t->name, SIOCSIFFLAGS, &ifr);
}

static int tap_attach(struct tap *t, const char *name, char *err, size_t errlen)
{
    struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
    unsigned int features = 0;
    int ret;

    if (tap_ioctl(t->fd, TUNGETFEATURES, &features) == 0 && !(features & IFF_VNET_HDR)) {
        snprintf(err, errlen, "the tun driver has no IFF_VNET_HDR");
        return -EOPNOTSUPP;
    }
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    ret = tap_ioctl(t->fd, TUNSETIFF, &ifr);
    if (ret == -EPERM)
        snprintf(err, errlen, "TAP %s: not permitted (needs CAP_NET_ADMIN, or a persistent "
                 "TAP owned by this user: ip tuntap add dev %s mode tap user $USER)", name, name);
    else if (ret == -EBUSY)
        snprintf(err, errlen, "TAP %s: already attached to another process", name);
    else if (ret == -EINVAL)
        snprintf(err, errlen, "TAP %s: exists but is not a single-queue TAP device", name);
    else if (ret)
        snprintf(err, errlen, "TAP %s: TUNSETIFF: %s", name, strerror(-ret));
    if (!ret)
        snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
    return ret;
}

int tap_open(struct tap *t, const char *name, unsigned hdr_len, char *err, size_t errlen)
{
    int len = (int)hdr_len, ret;
    bool existed = if_nametoindex(name) != 0;

    *t = (struct tap){ .fd = open(TAP_DEV, O_RDWR | O_CLOEXEC | O_NONBLOCK) };
    if (t->fd < 0) {
        ret = -errno;
        snprintf(err, errlen, "cannot open " TAP_DEV ": %s%s", strerror(-ret),
                 ret == -ENOENT ? " (modprobe tun)" : "");
        return ret;
    }
    ret = tap_attach(t, name, err, errlen);
    if (ret)
        goto out_close;
    t->created = !existed;
    ret = tap_ioctl(t->fd, TUNSETVNETHDRSZ, &len);
    if (ret) {
        snprintf(err, errlen, "TAP %s: TUNSETVNETHDRSZ %d: %s", name, len, strerror(-ret));
        goto out_close;
    }
    ret = tap_set_offload(t, 0);
    if (ret) {
        snprintf(err, errlen, "TAP %s: TUNSETOFFLOAD: %s", name, strerror(-ret));
        goto out_close;
    }
    if (t->created && (ret = tap_link_up(t)) != 0) {
        snprintf(err, errlen, "TAP %s: cannot set the link up: %s", name, strerror(-ret));
        goto out_close;
    }
    return 0;

out_close:
    close(t->fd);
    t->fd = -1;
    return ret;
}

void tap_close(struct tap *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

int tap_set_offload(struct tap *t, unsigned flags)
{
    int ret = tap_ioctl(t->fd, TUNSETOFFLOAD, (void *)(unsigned long)flags);

    if (!ret)
        t->offloads = flags;
    return ret;
}

unsigned tap_mtu(const struct tap *t)
{
    struct ifreq ifr = { 0 };

    if (tap_if_ioctl(t->name, SIOCGIFMTU, &ifr) || ifr.ifr_mtu <= 0)
        return 1500;
    return (unsigned)ifr.ifr_mtu;
}
