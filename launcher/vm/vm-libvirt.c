/* SPDX-License-Identifier: MIT */
/* libvirt glue of the vm tier (see vm-libvirt.h).
 *
 * Runs in moat's (or, for root, the unprivileged vm helper's) process. Contract:
 *   - the connection is opened after an event loop implementation is registered and a thread
 *     runs it, so lifecycle events and the connection's keepalive are serviced while the main
 *     thread polls the run's sockets;
 *   - the event callback is registered before the domain is created, so a short run cannot be
 *     missed;
 *   - the domain is created with AUTODESTROY: if this process dies, libvirt sees the client
 *     connection close and destroys the domain (and QEMU) itself. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "basic/macros.h"
#include "vm-libvirt.h"
#include "vm-session.h"

struct VmLibvirt {
        virConnectPtr conn;
        virDomainPtr dom;
        unsigned char uuid[VIR_UUID_BUFLEN];
        atomic_bool have_uuid;
        int callback_id;
        int event_pipe[2];
        char describe[128];
};

static pthread_once_t event_once = PTHREAD_ONCE_INIT;
static int event_init_result;

static void *event_loop(void *arg) {
        for (;;)
                if (virEventRunDefaultImpl() < 0)
                        usleep(10000);
        return NULL;
}

/* libvirt prints errors to stderr by default; moat reports them once, itself. */
static void silent_error(void *data, virErrorPtr err) {
}

static void event_init(void) {
        pthread_t t;
        pthread_attr_t a;

        virSetErrorFunc(NULL, silent_error);
        if (virInitialize() < 0 || virEventRegisterDefaultImpl() < 0) {
                event_init_result = -EIO;
                return;
        }
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, event_loop, NULL) != 0)
                event_init_result = -EAGAIN;
        pthread_attr_destroy(&a);
}

static const char *last_error(void) {
        const char *m = virGetLastErrorMessage();
        return m ? m : "unknown libvirt error";
}

static int lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque) {
        VmLibvirt *v = opaque;
        unsigned char uuid[VIR_UUID_BUFLEN];
        char c;

        if (!atomic_load(&v->have_uuid) || virDomainGetUUID(dom, uuid) < 0 ||
            memcmp(uuid, v->uuid, sizeof(uuid)) != 0)
                return 0;
        switch (event) {
        case VIR_DOMAIN_EVENT_STOPPED:
                c = VM_EVENT_STOPPED;
                break;
        case VIR_DOMAIN_EVENT_SHUTDOWN:
                c = VM_EVENT_SHUTDOWN;
                break;
        case VIR_DOMAIN_EVENT_CRASHED:
                c = VM_EVENT_CRASHED;
                break;
        default:
                return 0;
        }
        (void) !write(v->event_pipe[1], &c, 1);
        return 0;
}

int vm_libvirt_open(const char *uri, VmLibvirt **ret, char *msg, size_t msg_size) {
        VmLibvirt *v;
        unsigned long ver = 0;

        /* Before any thread exists: the session daemon below moat's reaper (vm-session.h). */
        if (strcmp(uri, "qemu:///session") == 0)
                (void) vm_session_daemon_ensure();
        pthread_once(&event_once, event_init);
        if (event_init_result < 0) {
                snprintf(msg, msg_size, "libvirt event loop: %s", last_error());
                return event_init_result;
        }
        v = calloc(1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        v->callback_id = -1;
        if (pipe2(v->event_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
                free(v);
                return -errno;
        }
        /* A session daemon that is just exiting on its idle timeout resets the connection;
         * the next attempt spawns a fresh one. */
        for (int i = 0; i < 3 && !v->conn; i++) {
                if (i > 0)
                        usleep(300000);
                v->conn = virConnectOpen(uri);
        }
        if (!v->conn) {
                snprintf(msg, msg_size, "cannot connect to %s: %s", uri, last_error());
                vm_libvirt_close(v, false);
                return -ECONNREFUSED;
        }
        v->callback_id =
                virConnectDomainEventRegisterAny(v->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                 VIR_DOMAIN_EVENT_CALLBACK(lifecycle), v, NULL);
        if (v->callback_id < 0) {
                snprintf(msg, msg_size, "libvirt event registration: %s", last_error());
                vm_libvirt_close(v, false);
                return -EIO;
        }
        (void) virConnectGetLibVersion(v->conn, &ver);
        snprintf(v->describe, sizeof(v->describe), "libvirt %lu.%lu.%lu %s", ver / 1000000,
                 ver / 1000 % 1000, ver % 1000, uri);
        *ret = v;
        return 0;
}

int vm_libvirt_create(VmLibvirt *v, const char *xml, char *msg, size_t msg_size) {
        v->dom = virDomainCreateXML(v->conn, xml, VIR_DOMAIN_START_AUTODESTROY);
        if (!v->dom) {
                snprintf(msg, msg_size, "domain create: %s", last_error());
                return -EIO;
        }
        if (virDomainGetUUID(v->dom, v->uuid) == 0)
                atomic_store(&v->have_uuid, true);
        /* An event that arrived before the UUID was known was dropped by the callback. */
        if (!vm_libvirt_is_active(v)) {
                char c = VM_EVENT_STOPPED;
                (void) !write(v->event_pipe[1], &c, 1);
        }
        return 0;
}

int vm_libvirt_event_fd(const VmLibvirt *v) {
        return v->event_pipe[0];
}

bool vm_libvirt_is_active(VmLibvirt *v) {
        return v->dom && virDomainIsActive(v->dom) == 1;
}

int vm_libvirt_destroy(VmLibvirt *v) {
        if (!v->dom || !vm_libvirt_is_active(v))
                return 0;
        return virDomainDestroy(v->dom) < 0 && vm_libvirt_is_active(v) ? -EIO : 0;
}

VmLibvirt *vm_libvirt_close(VmLibvirt *v, bool guest_done) {
        if (!v)
                return NULL;
        if (v->dom) {
                if (!guest_done)
                        (void) vm_libvirt_destroy(v);
                virDomainFree(v->dom);
        }
        if (v->conn) {
                if (v->callback_id >= 0)
                        virConnectDomainEventDeregisterAny(v->conn, v->callback_id);
                virConnectClose(v->conn);
        }
        safe_close(v->event_pipe[0]);
        safe_close(v->event_pipe[1]);
        free(v);
        return NULL;
}

const char *vm_libvirt_describe(const VmLibvirt *v) {
        return v->describe;
}
