/* SPDX-License-Identifier: MIT */
/* vm-netrelay.h: both ends of the vm tier's egress port. */
#include "vm-netrelay.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void vm_net_relay_init(VmNetRelay *r, bool guest, int port_fd, int listen_fd,
                       int (*connect)(void *userdata), void *userdata) {
        vm_net_mux_init(&r->mux, guest);
        r->port_fd = port_fd;
        r->listen_fd = guest ? listen_fd : -1;
        r->connect = guest ? NULL : connect;
        r->userdata = userdata;
        for (unsigned i = 0; i < VM_NET_CHANNELS; i++) {
                r->conn[i] = -1;
                r->close_pending[i] = r->answer_after_flush[i] = false;
                r->ack_pending[i] = 0;
                r->in_off[i] = r->in_len[i] = 0;
        }
        r->rx_len = r->out_len = 0;
        r->port_eof = false;
        r->opened = 0;
}

static void drop_conn(VmNetRelay *r, unsigned ch) {
        if (r->conn[ch] >= 0)
                close(r->conn[ch]);
        r->conn[ch] = -1;
        r->in_off[ch] = r->in_len[ch] = 0;
        r->ack_pending[ch] = 0;
        r->answer_after_flush[ch] = false;
}

static bool out_room(const VmNetRelay *r, size_t n) {
        return VM_NET_OUT_MAX - r->out_len >= n;
}

/* The connection of ch ended or failed: close the channel (or answer the other side's close). */
static void end_conn(VmNetRelay *r, unsigned ch) {
        drop_conn(r, ch);
        r->close_pending[ch] = true;
}

/* Queues what is owed to the port and fits: acknowledgements and closes. */
static void compose(VmNetRelay *r) {
        for (unsigned ch = 0; ch < VM_NET_CHANNELS; ch++) {
                const VmNetChan *c = &r->mux.chan[ch];
                int n;

                if (r->ack_pending[ch] && c->state == VM_NET_CHAN_OPEN &&
                    out_room(r, VM_NET_HEADER + 4)) {
                        n = vm_net_ack(&r->mux, (uint8_t) ch, r->ack_pending[ch],
                                       r->out + r->out_len);
                        if (n > 0) {
                                r->out_len += (size_t) n;
                                r->ack_pending[ch] = 0;
                        }
                }
                if (r->close_pending[ch] && out_room(r, VM_NET_HEADER)) {
                        n = vm_net_close(&r->mux, (uint8_t) ch, r->out + r->out_len);
                        if (n > 0)
                                r->out_len += (size_t) n;
                        r->close_pending[ch] = false;
                }
        }
}

static int flush_out(VmNetRelay *r) {
        size_t off = 0;

        while (off < r->out_len) {
                ssize_t n = write(r->port_fd, r->out + off, r->out_len - off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return errno == EPIPE || errno == ECONNRESET ? -EPIPE : -errno;
                }
                off += (size_t) n;
        }
        memmove(r->out, r->out + off, r->out_len - off);
        r->out_len -= off;
        return 0;
}

static bool can_read_conn(const VmNetRelay *r, unsigned ch) {
        return r->conn[ch] >= 0 && !r->close_pending[ch] && !r->answer_after_flush[ch] &&
               vm_net_room(&r->mux, (uint8_t) ch) > 0 && out_room(r, VM_NET_FRAME_BUF);
}

static bool can_open(const VmNetRelay *r) {
        if (!out_room(r, VM_NET_HEADER))
                return false;
        for (unsigned ch = 0; ch < VM_NET_CHANNELS; ch++)
                if (r->mux.chan[ch].state == VM_NET_CHAN_CLOSED && !r->close_pending[ch])
                        return true;
        return false;
}

void vm_net_relay_pollfds(VmNetRelay *r, struct pollfd *p) {
        compose(r);
        p[0] = (struct pollfd){ .fd = r->port_eof ? -1 : r->port_fd,
                                .events = (short) (POLLIN | (r->out_len ? POLLOUT : 0)) };
        p[1] = (struct pollfd){ .fd = r->listen_fd >= 0 && can_open(r) ? r->listen_fd : -1,
                                .events = POLLIN };
        for (unsigned ch = 0; ch < VM_NET_CHANNELS; ch++) {
                short ev = 0;
                if (can_read_conn(r, ch))
                        ev |= POLLIN;
                if (r->conn[ch] >= 0 && r->in_len[ch] > r->in_off[ch])
                        ev |= POLLOUT;
                p[2 + ch] = (struct pollfd){ .fd = ev ? r->conn[ch] : -1, .events = ev };
        }
}

/* Writes what the channel holds to its connection; acknowledges what went. */
static void write_conn(VmNetRelay *r, unsigned ch) {
        while (r->conn[ch] >= 0 && r->in_len[ch] > r->in_off[ch]) {
                ssize_t n = send(r->conn[ch], r->in[ch] + r->in_off[ch],
                                 r->in_len[ch] - r->in_off[ch], MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0) {
                        end_conn(r, ch);
                        return;
                }
                r->in_off[ch] += (size_t) n;
                if (r->mux.chan[ch].state == VM_NET_CHAN_OPEN)
                        r->ack_pending[ch] += (uint32_t) n;
        }
        r->in_off[ch] = r->in_len[ch] = 0;
        if (r->answer_after_flush[ch])
                end_conn(r, ch);
}

static void read_conn(VmNetRelay *r, unsigned ch) {
        static uint8_t buf[VM_NET_FRAME_MAX];
        size_t room = vm_net_room(&r->mux, (uint8_t) ch);
        ssize_t n;
        int k;

        if (!can_read_conn(r, ch))
                return;
        n = recv(r->conn[ch], buf, room < sizeof(buf) ? room : sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n <= 0) {
                end_conn(r, ch);
                return;
        }
        k = vm_net_data(&r->mux, (uint8_t) ch, buf, (size_t) n, r->out + r->out_len);
        if (k > 0)
                r->out_len += (size_t) k;
}

static int on_frame(VmNetRelay *r, const VmNetFrame *f) {
        unsigned ch = f->channel;
        VmNetEvent ev;
        int k;

        if (vm_net_receive(&r->mux, f, &ev) < 0)
                return -EBADMSG;
        switch (ev) {
        case VM_NET_EV_OPENED:
                r->opened++;
                k = r->connect ? r->connect(r->userdata) : -ENOTCONN;
                if (k < 0)
                        r->close_pending[ch] = true;
                else
                        r->conn[ch] = k;
                break;
        case VM_NET_EV_DATA:
                if (r->conn[ch] < 0)
                        break; /* its connection ended; our close is on its way */
                if (r->in_len[ch] + f->len > VM_NET_WINDOW) {
                        memmove(r->in[ch], r->in[ch] + r->in_off[ch],
                                r->in_len[ch] - r->in_off[ch]);
                        r->in_len[ch] -= r->in_off[ch];
                        r->in_off[ch] = 0;
                }
                if (r->in_len[ch] + f->len > VM_NET_WINDOW)
                        return -EBADMSG; /* cannot happen within the window */
                memcpy(r->in[ch] + r->in_len[ch], f->data, f->len);
                r->in_len[ch] += f->len;
                write_conn(r, ch);
                break;
        case VM_NET_EV_PEER_CLOSED:
                if (r->conn[ch] < 0 || r->in_len[ch] == r->in_off[ch])
                        end_conn(r, ch);
                else
                        r->answer_after_flush[ch] = true;
                break;
        case VM_NET_EV_CLOSED:
                drop_conn(r, ch);
                break;
        case VM_NET_EV_ACKED:
        case VM_NET_EV_DROPPED:
                break;
        }
        return 0;
}

static int read_port(VmNetRelay *r) {
        size_t off = 0;
        ssize_t n;

        n = read(r->port_fd, r->rx + r->rx_len, sizeof(r->rx) - r->rx_len);
        if (n < 0)
                return errno == EINTR || errno == EAGAIN ? 0
                       : errno == ECONNRESET             ? -EPIPE
                                                         : -errno;
        if (n == 0) {
                r->port_eof = true;
                return -EPIPE;
        }
        r->rx_len += (size_t) n;
        for (;;) {
                VmNetFrame f;
                size_t used = 0;
                int k = vm_net_parse(r->rx + off, r->rx_len - off, &f, &used);
                if (k < 0)
                        return -EBADMSG;
                if (k == 0)
                        break;
                if ((k = on_frame(r, &f)) < 0)
                        return k;
                off += used;
        }
        memmove(r->rx, r->rx + off, r->rx_len - off);
        r->rx_len -= off;
        return 0;
}

static void accept_one(VmNetRelay *r) {
        uint8_t ch;
        int fd, n;

        if (!can_open(r))
                return;
        fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
                return;
        n = vm_net_open(&r->mux, &ch, r->out + r->out_len);
        if (n < 0) {
                close(fd);
                return;
        }
        r->out_len += (size_t) n;
        r->conn[ch] = fd;
        r->opened++;
}

int vm_net_relay_handle(VmNetRelay *r, const struct pollfd *p) {
        int k;

        if (p[0].fd >= 0 && (p[0].revents & POLLIN) && (k = read_port(r)) < 0)
                return k;
        if (p[0].fd >= 0 && !(p[0].revents & POLLIN) && (p[0].revents & (POLLHUP | POLLERR)))
                return -EPIPE;
        for (unsigned ch = 0; ch < VM_NET_CHANNELS; ch++) {
                if (p[2 + ch].fd < 0 || p[2 + ch].fd != r->conn[ch])
                        continue;
                if (p[2 + ch].revents & POLLOUT)
                        write_conn(r, ch);
                if (p[2 + ch].revents & (POLLIN | POLLHUP | POLLERR))
                        read_conn(r, ch);
        }
        if (p[1].fd >= 0 && (p[1].revents & POLLIN))
                accept_one(r);
        compose(r);
        return flush_out(r);
}

void vm_net_relay_done(VmNetRelay *r) {
        for (unsigned ch = 0; ch < VM_NET_CHANNELS; ch++)
                drop_conn(r, ch);
}
