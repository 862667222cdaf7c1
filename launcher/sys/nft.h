/* SPDX-License-Identifier: MIT */
/* nf_tables over netlink, for transparent egress's DNS pins (launcher/net/nft-pin.h).
 *
 * sys_nft_open() opens a NETLINK_NETFILTER socket in the caller's network namespace; opened by
 * the sandbox's root (every capability over the sandbox's network namespace, before they are
 * dropped), it may be used by moat from outside: the kernel checks CAP_NET_ADMIN against the
 * opener's credentials and against the sender's over the namespace's owner, and moat owns the
 * sandbox's user namespace. The workload never holds it.
 * sys_nft_send() sends one encoded batch and waits for the acknowledgement of message ack_seq:
 * 0, or the kernel's -errno (-ENOENT: no such table or set, -EPERM: no CAP_NET_ADMIN). */
#pragma once

#include <stddef.h>
#include <stdint.h>

int sys_nft_open(void);
int sys_nft_send(int fd, const void *batch, size_t len, uint32_t ack_seq);
