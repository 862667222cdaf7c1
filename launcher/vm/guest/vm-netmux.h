/* SPDX-License-Identifier: MIT */
/* PURE. The framing of the vm tier's egress port "org.moat.net": many TCP connections of the
 * guest (accepted by moat-init on the guest's 127.0.0.1:3128) carried over one virtio-serial
 * byte stream to moat, which hands each one to the proxy of launcher/net/netd.h. Compiled into
 * both moat and the static guest init, so both sides parse with the same bounded code.
 *
 * A frame is a 4-byte header and a payload:
 *         <type> <channel> <length, 2 bytes big-endian> <length bytes>
 *   'o'  open (guest -> host only), length 0: the guest accepted a connection on the channel
 *   'd'  data, length 1..VM_NET_FRAME_MAX
 *   'a'  acknowledgement, length 4: the receiver has passed that many more bytes of the
 *        channel on (32-bit big-endian, 1..VM_NET_WINDOW)
 *   'c'  close, length 0
 * Channels are 0..VM_NET_CHANNELS-1. Flow control is per channel: a side never has more than
 * VM_NET_WINDOW bytes of data on a channel that the other side has not acknowledged, so a
 * receiver buffers at most VM_NET_WINDOW bytes per channel and never has to stop reading the
 * port (one slow connection does not stall the others).
 *
 * A channel is closed, open, or closing (this side sent 'c' and waits for the other's). 'c' on
 * an open channel closes it, and the receiver answers with its own 'c'; 'c' on a closing
 * channel completes the close. Data and acknowledgements that arrive on a closing channel were
 * sent before the other side saw the close and are dropped. Only a closed channel is opened;
 * nothing is sent to a side that owes its answer to a close.
 *
 * Anything else is malformed (an unknown type, a channel out of range, a bad length, 'o' from
 * the host or on a channel that is not closed, 'd' or 'a' on a closed channel, data beyond the
 * window, an acknowledgement of more than was sent, 'c' on a closed channel, any frame on a
 * channel after the sender's own 'c' and before the answer to it): the guest is not
 * trusted, and moat ends the run with exit 125. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VM_PORT_NET "org.moat.net"

#define VM_NET_CHANNELS 32u
#define VM_NET_FRAME_MAX 16384u
#define VM_NET_WINDOW 65536u
#define VM_NET_HEADER 4u
#define VM_NET_FRAME_BUF (VM_NET_HEADER + VM_NET_FRAME_MAX)

typedef enum VmNetType {
        VM_NET_OPEN = 'o',
        VM_NET_DATA = 'd',
        VM_NET_ACK = 'a',
        VM_NET_CLOSE = 'c',
} VmNetType;

typedef struct VmNetFrame {
        VmNetType type;
        uint8_t channel;
        uint16_t len;
        const uint8_t *data; /* into the buffer given to vm_net_parse() */
        uint32_t ack;        /* 'a' */
} VmNetFrame;

typedef enum VmNetState {
        VM_NET_CHAN_CLOSED,
        VM_NET_CHAN_OPEN,
        VM_NET_CHAN_CLOSING, /* this side sent 'c', the other's is awaited */
        VM_NET_CHAN_ANSWER,  /* the other side sent 'c', this side's is owed */
} VmNetState;

typedef struct VmNetChan {
        VmNetState state;
        uint32_t in_unacked;  /* received, not yet acknowledged by this side */
        uint32_t out_unacked; /* sent, not yet acknowledged by the other side */
} VmNetChan;

typedef struct VmNetMux {
        bool guest; /* this side is the guest (it opens channels) */
        VmNetChan chan[VM_NET_CHANNELS];
} VmNetMux;

/* What the receiver of a frame must do (vm_net_receive()). */
typedef enum VmNetEvent {
        VM_NET_EV_OPENED,      /* host: connect the channel to the proxy */
        VM_NET_EV_DATA,        /* pass frame->data on; vm_net_ack() once it is written */
        VM_NET_EV_ACKED,       /* more room to send on the channel (vm_net_room()) */
        VM_NET_EV_PEER_CLOSED, /* close the local connection, then send 'c' (vm_net_close()) */
        VM_NET_EV_CLOSED,      /* the close this side began is complete; the channel is free */
        VM_NET_EV_DROPPED,     /* a frame for a closing channel: nothing to do */
} VmNetEvent;

void vm_net_mux_init(VmNetMux *m, bool guest);

/* One frame from the start of buf[0..n): 1 and *ret_used (header + payload) when buf holds a
 * whole frame, 0 when it needs more bytes, -EBADMSG when the header is malformed (whatever
 * follows). Checks the grammar only; vm_net_receive() checks the frame against the state. */
int vm_net_parse(const uint8_t *buf, size_t n, VmNetFrame *ret, size_t *ret_used);

/* Applies a parsed frame from the other side to m: 0 and *ret_event, or -EBADMSG. */
int vm_net_receive(VmNetMux *m, const VmNetFrame *f, VmNetEvent *ret_event);

/* Sending. Each writes the frame into out (at least VM_NET_FRAME_BUF bytes) and returns its
 * length, or -errno without changing m. */
/* Guest: opens the lowest closed channel (*ret_channel); -EBUSY when none is free. */
int vm_net_open(VmNetMux *m, uint8_t *ret_channel, uint8_t *out);
/* Data on an open channel: 1..vm_net_room() bytes. */
int vm_net_data(VmNetMux *m, uint8_t channel, const void *data, size_t len, uint8_t *out);
/* Acknowledges n (1..in_unacked) received bytes of an open channel. */
int vm_net_ack(VmNetMux *m, uint8_t channel, uint32_t n, uint8_t *out);
/* Closes an open channel (-> closing), or answers the other side's close (the channel was left
 * owing an answer by VM_NET_EV_PEER_CLOSED; -> closed). */
int vm_net_close(VmNetMux *m, uint8_t channel, uint8_t *out);

/* Bytes that may be sent now on the channel: 0 unless it is open. */
size_t vm_net_room(const VmNetMux *m, uint8_t channel);
