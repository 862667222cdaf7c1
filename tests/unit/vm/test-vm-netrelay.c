/* SPDX-License-Identifier: MIT */
/* Both ends of the egress port, joined by a socketpair as the virtio-serial port: a client of
 * the guest end's listener reaches a connection on the host end's "proxy" listener, bytes go
 * both ways beyond the window, closes travel, the pool is bounded, and the host end rejects a
 * guest that breaks the framing. Unix sockets in a private directory only. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "vm/guest/vm-netrelay.h"

static VmNetRelay *guest, *host;
static int port[2], glisten, plisten;
static char dir[64], gpath[128], ppath[128];

static int listen_at(const char *path) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(strlen(path) < sizeof(a.sun_path));
        memcpy(a.sun_path, path, strlen(path) + 1);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
        assert_int_equal(listen(fd, 64), 0);
        return fd;
}

static int connect_to(const char *path) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(strlen(path) < sizeof(a.sun_path));
        memcpy(a.sun_path, path, strlen(path) + 1);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &a, sizeof(a)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static int proxy_connect(void *userdata) {
        return connect_to(userdata);
}

static int setup(void **state) {
        snprintf(dir, sizeof(dir), "/tmp/moat-netrelay-XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(gpath, sizeof(gpath), "%s/guest", dir);
        snprintf(ppath, sizeof(ppath), "%s/proxy", dir);
        glisten = listen_at(gpath);
        plisten = listen_at(ppath);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, port),
                         0);
        guest = calloc(1, sizeof(*guest));
        host = calloc(1, sizeof(*host));
        vm_net_relay_init(guest, true, port[0], glisten, NULL, NULL);
        vm_net_relay_init(host, false, port[1], -1, proxy_connect, ppath);
        return 0;
}

static int teardown(void **state) {
        vm_net_relay_done(guest);
        vm_net_relay_done(host);
        free(guest);
        free(host);
        close(port[0]);
        close(port[1]);
        close(glisten);
        close(plisten);
        unlink(gpath);
        unlink(ppath);
        rmdir(dir);
        return 0;
}

/* One round of both ends; the results of handle(). */
static void pump(int *rg, int *rh) {
        struct pollfd p[2 * VM_NET_POLLFDS];
        vm_net_relay_pollfds(guest, p);
        vm_net_relay_pollfds(host, p + VM_NET_POLLFDS);
        (void) poll(p, 2 * VM_NET_POLLFDS, 5);
        *rg = vm_net_relay_handle(guest, p);
        *rh = vm_net_relay_handle(host, p + VM_NET_POLLFDS);
}

static void pump_ok(void) {
        int rg, rh;
        pump(&rg, &rh);
        assert_int_equal(rg, 0);
        assert_int_equal(rh, 0);
}

static int accept_proxy(void) {
        for (int i = 0; i < 400; i++) {
                int fd = accept4(plisten, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd >= 0)
                        return fd;
                pump_ok();
        }
        return -1;
}

/* Sends n bytes from a into b through the relays while pumping; returns what b read. */
static size_t transfer(int a, int b, const uint8_t *data, size_t n, uint8_t *got) {
        size_t sent = 0, recvd = 0;
        for (int i = 0; i < 20000 && recvd < n; i++) {
                if (sent < n) {
                        ssize_t k = send(a, data + sent, n - sent, MSG_DONTWAIT);
                        if (k > 0)
                                sent += (size_t) k;
                }
                ssize_t k = recv(b, got + recvd, n - recvd, MSG_DONTWAIT);
                if (k > 0)
                        recvd += (size_t) k;
                pump_ok();
        }
        return recvd;
}

static void test_both_ways_and_close(void **state) {
        enum {
                N = 300000
        };
        uint8_t *data = malloc(N), *got = malloc(N);
        int client, srv;

        for (size_t i = 0; i < N; i++)
                data[i] = (uint8_t) (i * 7 + i / 251);
        client = connect_to(gpath);
        assert_true(client >= 0);
        srv = accept_proxy();
        assert_true(srv >= 0);
        assert_int_equal(transfer(client, srv, data, N, got), N);
        assert_memory_equal(data, got, N);
        memset(got, 0, N);
        assert_int_equal(transfer(srv, client, data, N, got), N);
        assert_memory_equal(data, got, N);

        /* The proxy ends the connection after its last bytes: the client gets them, then EOF. */
        assert_int_equal(send(srv, "bye", 3, 0), 3);
        close(srv);
        char buf[8];
        ssize_t k = -1;
        size_t have = 0;
        for (int i = 0; i < 400; i++) {
                pump_ok();
                k = recv(client, buf + have, sizeof(buf) - have, MSG_DONTWAIT);
                if (k > 0)
                        have += (size_t) k;
                else if (k == 0)
                        break;
        }
        assert_int_equal(k, 0);
        assert_int_equal(have, 3);
        assert_memory_equal(buf, "bye", 3);
        close(client);
        for (int i = 0; i < 20; i++)
                pump_ok();
        for (unsigned ch = 0; ch < VM_NET_CHANNELS; ch++) {
                assert_int_equal(guest->mux.chan[ch].state, VM_NET_CHAN_CLOSED);
                assert_int_equal(host->mux.chan[ch].state, VM_NET_CHAN_CLOSED);
        }
        free(data);
        free(got);
}

static void test_client_close(void **state) {
        int client = connect_to(gpath), srv;
        char buf[4];

        srv = accept_proxy();
        assert_true(srv >= 0);
        close(client);
        ssize_t k = -1;
        for (int i = 0; i < 400 && k != 0; i++) {
                pump_ok();
                k = recv(srv, buf, sizeof(buf), MSG_DONTWAIT);
        }
        assert_int_equal(k, 0);
        close(srv);
}

static void test_pool_bounded(void **state) {
        int c[VM_NET_CHANNELS + 4], s[VM_NET_CHANNELS + 4], n = 0;

        for (unsigned i = 0; i < VM_NET_CHANNELS + 4; i++) {
                c[i] = connect_to(gpath);
                assert_true(c[i] >= 0);
        }
        for (int i = 0; i < 200; i++) {
                int fd;
                pump_ok();
                while ((fd = accept4(plisten, NULL, NULL, SOCK_CLOEXEC)) >= 0)
                        s[n++] = fd;
        }
        assert_int_equal(n, VM_NET_CHANNELS);
        /* One ends: the next waiting client gets its channel. */
        close(s[0]);
        int fd = -1;
        for (int i = 0; i < 400 && fd < 0; i++) {
                pump_ok();
                fd = accept4(plisten, NULL, NULL, SOCK_CLOEXEC);
        }
        assert_true(fd >= 0);
        close(fd);
        for (int i = 1; i < n; i++)
                close(s[i]);
        for (unsigned i = 0; i < VM_NET_CHANNELS + 4; i++)
                close(c[i]);
}

static void test_proxy_down(void **state) {
        int client, rg, rh;
        char buf[4];

        close(plisten);
        unlink(ppath);
        plisten = listen_at(ppath); /* keep teardown simple; then make connects fail */
        host->userdata = (void *) "/nonexistent/moat-proxy";
        client = connect_to(gpath);
        ssize_t k = -1;
        for (int i = 0; i < 400 && k != 0; i++) {
                pump(&rg, &rh);
                assert_int_equal(rh, 0);
                k = recv(client, buf, sizeof(buf), MSG_DONTWAIT);
        }
        assert_int_equal(k, 0); /* no proxy: the connection is closed, nothing else */
        close(client);
}

static void test_malformed_guest(void **state) {
        static const uint8_t bad[][8] = {
                { 'd', 0, 0, 1, 'x' },          /* data on a channel never opened */
                { 'o', 0, 0, 0, 'o', 0, 0, 0 }, /* opened twice */
                { 'z', 0, 0, 0 },               /* no such frame */
        };
        static const size_t len[] = { 5, 8, 4 };

        for (size_t i = 0; i < 3; i++) {
                int rg, rh = 0;
                vm_net_relay_done(host);
                vm_net_relay_init(host, false, port[1], -1, proxy_connect, ppath);
                assert_int_equal(write(port[0], bad[i], len[i]), (ssize_t) len[i]);
                for (int j = 0; j < 50 && rh == 0; j++) {
                        struct pollfd p[VM_NET_POLLFDS];
                        vm_net_relay_pollfds(host, p);
                        (void) poll(p, VM_NET_POLLFDS, 5);
                        rh = vm_net_relay_handle(host, p);
                }
                (void) rg;
                assert_int_equal(rh, -EBADMSG);
                /* Whatever the host end sent back before. */
                char sink[64];
                while (read(port[0], sink, sizeof(sink)) > 0)
                        ;
        }
}

static void test_port_gone(void **state) {
        int rg, rh;
        close(port[0]);
        port[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        guest->port_fd = -1;
        pump(&rg, &rh);
        assert_int_equal(rh, -EPIPE);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_both_ways_and_close, setup, teardown),
                cmocka_unit_test_setup_teardown(test_client_close, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pool_bounded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_proxy_down, setup, teardown),
                cmocka_unit_test_setup_teardown(test_malformed_guest, setup, teardown),
                cmocka_unit_test_setup_teardown(test_port_gone, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
