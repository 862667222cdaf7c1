/* SPDX-License-Identifier: MIT */
/* The egress port's framing: both sides keep to the window and the close handshake, and a
 * receiver rejects every frame outside the grammar or the channel's state. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vm/guest/vm-netmux.h"

static uint8_t out[VM_NET_FRAME_BUF];

/* Parses exactly one whole frame of buf[0..n) and applies it to m. */
static int deliver(VmNetMux *m, const uint8_t *buf, size_t n, VmNetEvent *ev) {
        VmNetFrame f;
        size_t used = 0;
        int r = vm_net_parse(buf, n, &f, &used);

        if (r < 0)
                return r;
        assert_int_equal(r, 1);
        assert_int_equal(used, n);
        return vm_net_receive(m, &f, ev);
}

static void test_connection(void **state) {
        VmNetMux g, h;
        VmNetEvent ev;
        uint8_t ch;
        int n;

        vm_net_mux_init(&g, true);
        vm_net_mux_init(&h, false);
        n = vm_net_open(&g, &ch, out);
        assert_int_equal(n, 4);
        assert_int_equal(ch, 0);
        assert_int_equal(deliver(&h, out, n, &ev), 0);
        assert_int_equal(ev, VM_NET_EV_OPENED);

        n = vm_net_data(&g, ch, "CONNECT", 7, out);
        assert_int_equal(n, 11);
        assert_int_equal(deliver(&h, out, n, &ev), 0);
        assert_int_equal(ev, VM_NET_EV_DATA);
        n = vm_net_ack(&h, ch, 7, out);
        assert_int_equal(deliver(&g, out, n, &ev), 0);
        assert_int_equal(ev, VM_NET_EV_ACKED);
        assert_int_equal(vm_net_room(&g, ch), VM_NET_FRAME_MAX);

        /* The host closes; data the guest sent meanwhile is dropped, the guest answers. */
        uint8_t late[VM_NET_FRAME_BUF];
        int nl = vm_net_data(&g, ch, "x", 1, late);
        n = vm_net_close(&h, ch, out);
        assert_int_equal(deliver(&h, late, nl, &ev), 0);
        assert_int_equal(ev, VM_NET_EV_DROPPED);
        assert_int_equal(deliver(&g, out, n, &ev), 0);
        assert_int_equal(ev, VM_NET_EV_PEER_CLOSED);
        assert_int_equal(vm_net_room(&g, ch), 0);
        assert_int_equal(vm_net_data(&g, ch, "x", 1, out), -EINVAL);
        n = vm_net_close(&g, ch, out);
        assert_int_equal(deliver(&h, out, n, &ev), 0);
        assert_int_equal(ev, VM_NET_EV_CLOSED);

        /* Both free again: the channel is reused. */
        n = vm_net_open(&g, &ch, out);
        assert_int_equal(ch, 0);
        assert_int_equal(deliver(&h, out, n, &ev), 0);
        assert_int_equal(ev, VM_NET_EV_OPENED);
}

static void test_simultaneous_close(void **state) {
        VmNetMux g, h;
        VmNetEvent ev;
        uint8_t ch, cg[8], chh[8];
        int n, ng, nh;

        vm_net_mux_init(&g, true);
        vm_net_mux_init(&h, false);
        n = vm_net_open(&g, &ch, out);
        assert_int_equal(deliver(&h, out, n, &ev), 0);
        ng = vm_net_close(&g, ch, cg);
        nh = vm_net_close(&h, ch, chh);
        assert_int_equal(deliver(&h, cg, ng, &ev), 0);
        assert_int_equal(ev, VM_NET_EV_CLOSED);
        assert_int_equal(deliver(&g, chh, nh, &ev), 0);
        assert_int_equal(ev, VM_NET_EV_CLOSED);
        assert_int_equal(vm_net_close(&g, ch, out), -EINVAL);
}

static void test_window(void **state) {
        VmNetMux g, h;
        VmNetEvent ev;
        uint8_t ch, buf[VM_NET_FRAME_MAX] = {};
        int n;

        vm_net_mux_init(&g, true);
        vm_net_mux_init(&h, false);
        n = vm_net_open(&g, &ch, out);
        assert_int_equal(deliver(&h, out, n, &ev), 0);
        for (unsigned i = 0; i < VM_NET_WINDOW / VM_NET_FRAME_MAX; i++) {
                n = vm_net_data(&g, ch, buf, VM_NET_FRAME_MAX, out);
                assert_int_equal(n, VM_NET_FRAME_BUF);
                assert_int_equal(deliver(&h, out, n, &ev), 0);
        }
        /* The sender has no room left; a sender that ignores that is refused. */
        assert_int_equal(vm_net_room(&g, ch), 0);
        assert_int_equal(vm_net_data(&g, ch, buf, 1, out), -EINVAL);
        const uint8_t over[] = { 'd', 0, 0, 1, 'x' };
        assert_int_equal(deliver(&h, over, sizeof(over), &ev), -EBADMSG);

        /* An acknowledgement of more than was received, or than was sent, is refused. */
        assert_int_equal(vm_net_ack(&h, ch, VM_NET_WINDOW + 1, out), -EINVAL);
        n = vm_net_ack(&h, ch, 100, out);
        assert_int_equal(deliver(&g, out, n, &ev), 0);
        assert_int_equal(vm_net_room(&g, ch), 100);
        const uint8_t big_ack[] = { 'a', 0, 0, 4, 0, 1, 0, 0 }; /* 65536 > 65436 unacked */
        assert_int_equal(deliver(&g, big_ack, sizeof(big_ack), &ev), -EBADMSG);
}

static void test_parse_incremental(void **state) {
        VmNetMux g;
        VmNetFrame f;
        size_t used = 0;
        uint8_t ch;
        int n;

        vm_net_mux_init(&g, true);
        assert_int_equal(vm_net_open(&g, &ch, out), 4);
        n = vm_net_data(&g, ch, "hello", 5, out);
        for (int i = 0; i < n; i++)
                assert_int_equal(vm_net_parse(out, (size_t) i, &f, &used), 0);
        assert_int_equal(vm_net_parse(out, (size_t) n + 3, &f, &used), 1);
        assert_int_equal(used, 9);
        assert_int_equal(f.type, VM_NET_DATA);
        assert_int_equal(f.len, 5);
        assert_memory_equal(f.data, "hello", 5);
}

static void test_parse_malformed(void **state) {
        static const struct {
                uint8_t b[8];
                size_t n;
        } bad[] = {
                { { 'x' }, 1 },                         /* unknown type, seen at once */
                { { 'd', VM_NET_CHANNELS }, 2 },        /* channel out of range */
                { { 'd', 255, 0, 1 }, 4 },              /* channel out of range */
                { { 'o', 0, 0, 1 }, 4 },                /* open with a payload */
                { { 'c', 0, 0, 2 }, 4 },                /* close with a payload */
                { { 'd', 0, 0, 0 }, 4 },                /* empty data */
                { { 'd', 0, 0x40, 0x01 }, 4 },          /* data over VM_NET_FRAME_MAX */
                { { 'a', 0, 0, 3 }, 4 },                /* acknowledgement not 4 bytes */
                { { 'a', 0, 0, 4, 0, 0, 0, 0 }, 8 },    /* acknowledgement of 0 */
                { { 'a', 0, 0, 4, 0, 1, 0, 1 }, 8 },    /* acknowledgement over the window */
                { { 'a', 0, 0, 4, 0xff, 0, 0, 0 }, 8 }, /* acknowledgement over the window */
        };
        VmNetFrame f;
        size_t used;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                used = 0;
                assert_int_equal(vm_net_parse(bad[i].b, bad[i].n, &f, &used), -EBADMSG);
        }
}

static void test_state_malformed(void **state) {
        VmNetMux g, h;
        VmNetEvent ev;
        uint8_t ch;
        int n;
        const uint8_t open0[] = { 'o', 0, 0, 0 }, data0[] = { 'd', 0, 0, 1, 'x' },
                      close0[] = { 'c', 0, 0, 0 }, ack0[] = { 'a', 0, 0, 4, 0, 0, 0, 1 };

        /* Nothing but an open on a closed channel. */
        vm_net_mux_init(&h, false);
        assert_int_equal(deliver(&h, data0, sizeof(data0), &ev), -EBADMSG);
        assert_int_equal(deliver(&h, close0, sizeof(close0), &ev), -EBADMSG);
        assert_int_equal(deliver(&h, ack0, sizeof(ack0), &ev), -EBADMSG);
        /* An open twice. */
        assert_int_equal(deliver(&h, open0, sizeof(open0), &ev), 0);
        assert_int_equal(deliver(&h, open0, sizeof(open0), &ev), -EBADMSG);
        /* An acknowledgement of nothing sent. */
        assert_int_equal(deliver(&h, ack0, sizeof(ack0), &ev), -EBADMSG);

        /* The host never opens. */
        vm_net_mux_init(&g, true);
        assert_int_equal(deliver(&g, open0, sizeof(open0), &ev), -EBADMSG);
        assert_int_equal(vm_net_open(&h, &ch, out), -EPERM);

        /* After its own close, the sender sends nothing until the answer. */
        vm_net_mux_init(&h, false);
        assert_int_equal(deliver(&h, open0, sizeof(open0), &ev), 0);
        assert_int_equal(deliver(&h, close0, sizeof(close0), &ev), 0);
        assert_int_equal(ev, VM_NET_EV_PEER_CLOSED);
        assert_int_equal(deliver(&h, data0, sizeof(data0), &ev), -EBADMSG);
        assert_int_equal(deliver(&h, open0, sizeof(open0), &ev), -EBADMSG);
        assert_int_equal(deliver(&h, close0, sizeof(close0), &ev), -EBADMSG);
        n = vm_net_close(&h, 0, out);
        assert_int_equal(n, 4);
        assert_int_equal(deliver(&h, open0, sizeof(open0), &ev), 0);
}

static void test_pool_bounded(void **state) {
        VmNetMux g;
        uint8_t ch;

        vm_net_mux_init(&g, true);
        for (unsigned i = 0; i < VM_NET_CHANNELS; i++) {
                assert_int_equal(vm_net_open(&g, &ch, out), 4);
                assert_int_equal(ch, i);
        }
        assert_int_equal(vm_net_open(&g, &ch, out), -EBUSY);
        assert_int_equal(vm_net_close(&g, 5, out), 4);
        assert_int_equal(vm_net_open(&g, &ch, out), -EBUSY); /* closing is not free yet */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_connection),      cmocka_unit_test(test_simultaneous_close),
                cmocka_unit_test(test_window),          cmocka_unit_test(test_parse_incremental),
                cmocka_unit_test(test_parse_malformed), cmocka_unit_test(test_state_malformed),
                cmocka_unit_test(test_pool_bounded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
