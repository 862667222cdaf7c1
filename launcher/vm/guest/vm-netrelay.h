/* SPDX-License-Identifier: MIT */
/* Both ends of the vm tier's egress port (framing: vm-netmux.h), compiled into moat and into
 * the static guest init. The guest end accepts connections on a listening socket (moat-init's
 * 127.0.0.1:3128) and opens a channel for each; the host end connects each channel the guest
 * opens to the proxy (launcher/net/netd.h) through a callback. Both relay bytes between the
 * channels and their connections within the windows of vm-netmux.h, with a bounded output
 * queue to the port: nothing blocks, so a side that stops reading stalls only itself, and
 * every buffer is bounded (VM_NET_WINDOW per channel, VM_NET_OUT_MAX for the port).
 *
 * A connection's end (EOF or an error on either side) closes its channel: the bytes that
 * arrived before the other side's close are written out first; a half-close is not carried.
 *
 * Where it runs: the port is in the domain (VmDomainSpec.net_socket), the warm clone and the
 * template key (VmWarmSpec.net); the guest end runs in moat-init for record N, the host end in
 * the vm executor (vm-execute.c), which connects each channel to moat's proxy. */
#pragma once

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm-netmux.h"

#define VM_NET_OUT_MAX (256u * 1024u)
#define VM_NET_POLLFDS (2 + VM_NET_CHANNELS)

typedef struct VmNetRelay {
        VmNetMux mux;
        int port_fd;   /* O_NONBLOCK; not owned */
        int listen_fd; /* guest: O_NONBLOCK listening socket, not owned; host: -1 */
        /* host: a new O_NONBLOCK|O_CLOEXEC connection to the proxy, or -errno */
        int (*connect)(void *userdata);
        void *userdata;
        int conn[VM_NET_CHANNELS]; /* owned */
        bool close_pending[VM_NET_CHANNELS];
        bool answer_after_flush[VM_NET_CHANNELS];
        uint32_t ack_pending[VM_NET_CHANNELS];
        size_t in_off[VM_NET_CHANNELS], in_len[VM_NET_CHANNELS];
        uint8_t in[VM_NET_CHANNELS][VM_NET_WINDOW];
        uint8_t rx[VM_NET_FRAME_BUF];
        size_t rx_len;
        uint8_t out[VM_NET_OUT_MAX];
        size_t out_len;
        bool port_eof;
        uint64_t opened; /* channels opened in all */
} VmNetRelay;

/* guest: listen_fd set, connect NULL; host: listen_fd -1, connect set. */
void vm_net_relay_init(VmNetRelay *r, bool guest, int port_fd, int listen_fd,
                       int (*connect)(void *userdata), void *userdata);
/* Fills p[0..VM_NET_POLLFDS) (port, listener, the channels' connections) for poll(). */
void vm_net_relay_pollfds(VmNetRelay *r, struct pollfd *p);
/* After poll() on those: 0, -EPIPE when the port ended (EOF or hang-up), -EBADMSG when the
 * other side broke the framing, or -errno of the port. */
int vm_net_relay_handle(VmNetRelay *r, const struct pollfd *p);
/* Closes every connection. */
void vm_net_relay_done(VmNetRelay *r);
