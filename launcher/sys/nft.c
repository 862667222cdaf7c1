/* SPDX-License-Identifier: MIT */
/* sys/nft.h. Runs in the process that pins (the DNS stub, or a test tool); changes the
 * nf_tables state of the socket's network namespace, nothing else. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>

#include "sys/nft.h"

#ifndef NETLINK_NETFILTER
#define NETLINK_NETFILTER 12
#endif
#define NFT_ACK_TIMEOUT_MS 1000

int sys_nft_open(void) {
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);

        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;
                (void) close(fd);
                return r;
        }
        return fd;
}

int sys_nft_send(int fd, const void *batch, size_t len, uint32_t ack_seq) {
        struct sockaddr_nl to = { .nl_family = AF_NETLINK };
        union {
                struct nlmsghdr h;
                uint8_t b[8192];
        } ans;

        if (sendto(fd, batch, len, 0, (struct sockaddr *) &to, sizeof(to)) != (ssize_t) len)
                return -errno ? -errno : -EIO;
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int n = poll(&p, 1, NFT_ACK_TIMEOUT_MS);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -ETIMEDOUT;
                ssize_t got = recv(fd, ans.b, sizeof(ans.b), 0);
                if (got < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (struct nlmsghdr *h = &ans.h; NLMSG_OK(h, (size_t) got);
                     h = NLMSG_NEXT(h, got)) {
                        if (h->nlmsg_type != NLMSG_ERROR)
                                continue;
                        const struct nlmsgerr *e = NLMSG_DATA(h);
                        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
                                return -EBADMSG;
                        if (e->error != 0 || h->nlmsg_seq == ack_seq)
                                return e->error;
                }
        }
}
