/* SPDX-License-Identifier: MIT */
/* The vm tier's egress port framing (launcher/vm/guest/vm-netmux.c) on arbitrary bytes: what a
 * guest sends moat. The first byte picks the receiving side (even: moat, odd: the guest init,
 * for what moat sends); the rest is the stream. The receiver behaves as the real one: it fills
 * every window it is given and acknowledges every other data frame.
 * Besides memory safety: a frame lies inside the input and within its bounds, no channel ever
 * has more than VM_NET_WINDOW bytes unacknowledged either way, and the first malformed frame
 * ends the stream (as it ends the run). */
#include <string.h>

#include "fuzz.h"
#include "vm/guest/vm-netmux.h"

#pragma weak vm_net_parse
#pragma weak vm_net_receive

const char *fuzz_missing_function(void) {
        if (!vm_net_parse)
                return "vm_net_parse";
        if (!vm_net_receive)
                return "vm_net_receive";
        return NULL;
}

static uint8_t out[VM_NET_FRAME_BUF];
static uint8_t fill[VM_NET_FRAME_MAX];

static void fill_window(VmNetMux *m, uint8_t ch) {
        size_t room = vm_net_room(m, ch);
        if (room)
                FUZZ_CHECK(vm_net_data(m, ch, fill, room, out) == (int) (VM_NET_HEADER + room));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        VmNetMux m;
        size_t off = 1;

        if (size < 1)
                return 0;
        vm_net_mux_init(&m, data[0] % 2 == 1);
        while (off < size) {
                VmNetFrame f;
                VmNetEvent ev;
                size_t used = 0;
                int r = vm_net_parse(data + off, size - off, &f, &used);

                if (r <= 0)
                        break;
                FUZZ_CHECK(used >= VM_NET_HEADER && used <= VM_NET_FRAME_BUF && used <= size - off);
                FUZZ_CHECK(f.channel < VM_NET_CHANNELS && used == VM_NET_HEADER + f.len);
                off += used;
                if (vm_net_receive(&m, &f, &ev) < 0)
                        break;
                switch (ev) {
                case VM_NET_EV_OPENED:
                        FUZZ_CHECK(!m.guest);
                        fill_window(&m, f.channel);
                        break;
                case VM_NET_EV_ACKED:
                        fill_window(&m, f.channel);
                        break;
                case VM_NET_EV_DATA:
                        if (f.data[0] & 1)
                                FUZZ_CHECK(vm_net_ack(&m, f.channel, m.chan[f.channel].in_unacked,
                                                      out) == VM_NET_HEADER + 4);
                        break;
                case VM_NET_EV_PEER_CLOSED:
                        FUZZ_CHECK(vm_net_close(&m, f.channel, out) == VM_NET_HEADER);
                        break;
                case VM_NET_EV_CLOSED:
                case VM_NET_EV_DROPPED:
                        break;
                }
                for (unsigned i = 0; i < VM_NET_CHANNELS; i++) {
                        FUZZ_CHECK(m.chan[i].in_unacked <= VM_NET_WINDOW);
                        FUZZ_CHECK(m.chan[i].out_unacked <= VM_NET_WINDOW);
                }
        }
        return 0;
}
