/* SPDX-License-Identifier: MIT */
/* PURE. vm-netmux.h: the framing of the vm tier's egress port. */
#include "vm-netmux.h"

#include <errno.h>
#include <string.h>

void vm_net_mux_init(VmNetMux *m, bool guest) {
        memset(m, 0, sizeof(*m));
        m->guest = guest;
}

int vm_net_parse(const uint8_t *buf, size_t n, VmNetFrame *ret, size_t *ret_used) {
        VmNetFrame f = {};

        if (n < VM_NET_HEADER) {
                /* Reject a bad type or channel as soon as it is seen, not when the rest comes. */
                if (n >= 1 && buf[0] != VM_NET_OPEN && buf[0] != VM_NET_DATA &&
                    buf[0] != VM_NET_ACK && buf[0] != VM_NET_CLOSE)
                        return -EBADMSG;
                if (n >= 2 && buf[1] >= VM_NET_CHANNELS)
                        return -EBADMSG;
                return 0;
        }
        f.type = (VmNetType) buf[0];
        f.channel = buf[1];
        f.len = (uint16_t) ((unsigned) buf[2] << 8 | buf[3]);
        if (f.channel >= VM_NET_CHANNELS)
                return -EBADMSG;
        switch (buf[0]) {
        case VM_NET_OPEN:
        case VM_NET_CLOSE:
                if (f.len != 0)
                        return -EBADMSG;
                break;
        case VM_NET_DATA:
                if (f.len < 1 || f.len > VM_NET_FRAME_MAX)
                        return -EBADMSG;
                break;
        case VM_NET_ACK:
                if (f.len != 4)
                        return -EBADMSG;
                break;
        default:
                return -EBADMSG;
        }
        if (n - VM_NET_HEADER < f.len)
                return 0;
        f.data = buf + VM_NET_HEADER;
        if (f.type == VM_NET_ACK) {
                f.ack = (uint32_t) f.data[0] << 24 | (uint32_t) f.data[1] << 16 |
                        (uint32_t) f.data[2] << 8 | f.data[3];
                if (f.ack < 1 || f.ack > VM_NET_WINDOW)
                        return -EBADMSG;
        }
        *ret = f;
        *ret_used = VM_NET_HEADER + f.len;
        return 1;
}

int vm_net_receive(VmNetMux *m, const VmNetFrame *f, VmNetEvent *ret_event) {
        VmNetChan *c;

        if (f->channel >= VM_NET_CHANNELS)
                return -EBADMSG;
        c = &m->chan[f->channel];
        /* A channel owing this side's answer to a close accepts nothing: no case below does. */
        switch (f->type) {
        case VM_NET_OPEN:
                if (m->guest || c->state != VM_NET_CHAN_CLOSED)
                        return -EBADMSG;
                *c = (VmNetChan){ .state = VM_NET_CHAN_OPEN };
                *ret_event = VM_NET_EV_OPENED;
                return 0;
        case VM_NET_DATA:
                if (c->state == VM_NET_CHAN_CLOSING) {
                        *ret_event = VM_NET_EV_DROPPED;
                        return 0;
                }
                if (c->state != VM_NET_CHAN_OPEN || f->len < 1 || f->len > VM_NET_FRAME_MAX ||
                    f->len > VM_NET_WINDOW - c->in_unacked)
                        return -EBADMSG;
                c->in_unacked += f->len;
                *ret_event = VM_NET_EV_DATA;
                return 0;
        case VM_NET_ACK:
                if (c->state == VM_NET_CHAN_CLOSING) {
                        *ret_event = VM_NET_EV_DROPPED;
                        return 0;
                }
                if (c->state != VM_NET_CHAN_OPEN || f->ack < 1 || f->ack > c->out_unacked)
                        return -EBADMSG;
                c->out_unacked -= f->ack;
                *ret_event = VM_NET_EV_ACKED;
                return 0;
        case VM_NET_CLOSE:
                if (c->state == VM_NET_CHAN_CLOSING) {
                        *c = (VmNetChan){ .state = VM_NET_CHAN_CLOSED };
                        *ret_event = VM_NET_EV_CLOSED;
                        return 0;
                }
                if (c->state != VM_NET_CHAN_OPEN)
                        return -EBADMSG;
                *c = (VmNetChan){ .state = VM_NET_CHAN_ANSWER };
                *ret_event = VM_NET_EV_PEER_CLOSED;
                return 0;
        }
        return -EBADMSG;
}

static int put(uint8_t *out, VmNetType type, uint8_t channel, const void *data, size_t len) {
        out[0] = (uint8_t) type;
        out[1] = channel;
        out[2] = (uint8_t) (len >> 8);
        out[3] = (uint8_t) len;
        if (len)
                memcpy(out + VM_NET_HEADER, data, len);
        return (int) (VM_NET_HEADER + len);
}

int vm_net_open(VmNetMux *m, uint8_t *ret_channel, uint8_t *out) {
        if (!m->guest)
                return -EPERM;
        for (unsigned i = 0; i < VM_NET_CHANNELS; i++)
                if (m->chan[i].state == VM_NET_CHAN_CLOSED) {
                        m->chan[i] = (VmNetChan){ .state = VM_NET_CHAN_OPEN };
                        *ret_channel = (uint8_t) i;
                        return put(out, VM_NET_OPEN, (uint8_t) i, NULL, 0);
                }
        return -EBUSY;
}

size_t vm_net_room(const VmNetMux *m, uint8_t channel) {
        const VmNetChan *c;
        size_t room;

        if (channel >= VM_NET_CHANNELS)
                return 0;
        c = &m->chan[channel];
        if (c->state != VM_NET_CHAN_OPEN)
                return 0;
        room = VM_NET_WINDOW - c->out_unacked;
        return room < VM_NET_FRAME_MAX ? room : VM_NET_FRAME_MAX;
}

int vm_net_data(VmNetMux *m, uint8_t channel, const void *data, size_t len, uint8_t *out) {
        if (len < 1 || len > vm_net_room(m, channel))
                return -EINVAL;
        m->chan[channel].out_unacked += (uint32_t) len;
        return put(out, VM_NET_DATA, channel, data, len);
}

int vm_net_ack(VmNetMux *m, uint8_t channel, uint32_t n, uint8_t *out) {
        uint8_t be[4] = { (uint8_t) (n >> 24), (uint8_t) (n >> 16), (uint8_t) (n >> 8),
                          (uint8_t) n };
        VmNetChan *c;

        if (channel >= VM_NET_CHANNELS)
                return -EINVAL;
        c = &m->chan[channel];
        if (c->state != VM_NET_CHAN_OPEN || n < 1 || n > c->in_unacked)
                return -EINVAL;
        c->in_unacked -= n;
        return put(out, VM_NET_ACK, channel, be, sizeof(be));
}

int vm_net_close(VmNetMux *m, uint8_t channel, uint8_t *out) {
        VmNetChan *c;

        if (channel >= VM_NET_CHANNELS)
                return -EINVAL;
        c = &m->chan[channel];
        if (c->state == VM_NET_CHAN_OPEN)
                *c = (VmNetChan){ .state = VM_NET_CHAN_CLOSING };
        else if (c->state == VM_NET_CHAN_ANSWER)
                *c = (VmNetChan){ .state = VM_NET_CHAN_CLOSED };
        else
                return -EINVAL;
        return put(out, VM_NET_CLOSE, channel, NULL, 0);
}
