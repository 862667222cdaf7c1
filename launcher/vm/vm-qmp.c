/* SPDX-License-Identifier: MIT */
/* QMP client (vm-qmp.h). Runs in moat's process (or the moat-vm helper's) beside the QEMU it
 * started; talks only to that QEMU's private monitor socket in the run directory. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "basic/macros.h"
#include "vm-qmp.h"

static uint64_t mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void set_error(VmQmp *q, const char *s) {
        size_t i;

        for (i = 0; s && s[i] && i < sizeof(q->error) - 1; i++)
                q->error[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
        q->error[i] = 0;
}

/* One line as a JSON object (NULL at EOF or on error, with r set). */
static json_t *read_object(VmQmp *q, uint64_t deadline, int *r) {
        for (;;) {
                char *nl = memchr(q->buf, '\n', q->len);
                if (nl) {
                        json_t *o;
                        size_t n = (size_t) (nl - q->buf);

                        *nl = 0;
                        o = json_loadb(q->buf, n, 0, NULL);
                        memmove(q->buf, nl + 1, q->len - n - 1);
                        q->len -= n + 1;
                        if (!json_is_object(o)) {
                                json_decref(o);
                                *r = -EPROTO;
                                return NULL;
                        }
                        return o;
                }
                if (q->len == sizeof(q->buf)) {
                        *r = -EPROTO;
                        return NULL;
                }
                uint64_t t = mono_ms();
                if (t >= deadline) {
                        *r = -ETIMEDOUT;
                        return NULL;
                }
                struct pollfd p = { .fd = q->fd, .events = POLLIN };
                int pr = poll(&p, 1, (int) MIN(deadline - t, 1000u));
                if (pr < 0 && errno != EINTR) {
                        *r = -errno;
                        return NULL;
                }
                if (pr <= 0)
                        continue;
                ssize_t n = read(q->fd, q->buf + q->len, sizeof(q->buf) - q->len);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0) {
                        *r = n == 0 ? -ECONNRESET : -errno;
                        return NULL;
                }
                q->len += (size_t) n;
        }
}

/* Events: only VSERPORT_CHANGE matters (the guest opened a port). */
static void note_event(VmQmp *q, json_t *o) {
        const char *ev = json_string_value(json_object_get(o, "event"));
        json_t *data = json_object_get(o, "data");

        if (ev && strcmp(ev, "VSERPORT_CHANGE") == 0 && json_is_true(json_object_get(data, "open")))
                q->ports_open++;
        else if (ev && strcmp(ev, "VSERPORT_CHANGE") == 0 &&
                 json_is_false(json_object_get(data, "open")) &&
                 json_is_string(json_object_get(data, "id")) &&
                 strcmp(json_string_value(json_object_get(data, "id")), "ctl") == 0)
                q->ports_closed++;
}

int vm_qmp_read_events(VmQmp *q) {
        ssize_t n;

        if (q->len == sizeof(q->buf))
                return -EPROTO;
        n = read(q->fd, q->buf + q->len, sizeof(q->buf) - q->len);
        if (n < 0)
                return errno == EINTR || errno == EAGAIN ? 0 : -errno;
        if (n == 0)
                return -ECONNRESET;
        q->len += (size_t) n;
        for (char *nl; (nl = memchr(q->buf, '\n', q->len));) {
                size_t l = (size_t) (nl - q->buf);
                json_t *o = json_loadb(q->buf, l, 0, NULL);

                memmove(q->buf, nl + 1, q->len - l - 1);
                q->len -= l + 1;
                if (!json_is_object(o)) {
                        json_decref(o);
                        return -EPROTO;
                }
                if (json_object_get(o, "event"))
                        note_event(q, o);
                json_decref(o);
        }
        return 0;
}

int vm_qmp_connect(VmQmp *q, const char *path, uint64_t deadline) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        json_t *o;
        int r;

        *q = (VmQmp){ .fd = -EBADF };
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        for (;;) {
                q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (q->fd < 0)
                        return -errno;
                if (connect(q->fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                        break;
                r = -errno;
                q->fd = safe_close(q->fd);
                if ((r != -ENOENT && r != -ECONNREFUSED) || mono_ms() >= deadline)
                        return r;
                (void) poll(NULL, 0, 2);
        }
        o = read_object(q, deadline, &r);
        if (!o)
                return r;
        r = json_object_get(o, "QMP") ? 0 : -EPROTO;
        json_decref(o);
        if (r < 0)
                return r;
        return vm_qmp_command(q, "{\"execute\":\"qmp_capabilities\"}", -1, NULL, deadline);
}

static int send_line(VmQmp *q, const char *cmd, int pass_fd) {
        size_t n = strlen(cmd);
        char *line = malloc(n + 2);
        struct iovec iov;
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u = {};
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t w;

        if (!line)
                return -ENOMEM;
        memcpy(line, cmd, n);
        line[n] = '\n';
        iov = (struct iovec){ .iov_base = line, .iov_len = n + 1 };
        if (pass_fd >= 0) {
                m.msg_control = u.buf;
                m.msg_controllen = sizeof(u.buf);
                struct cmsghdr *c = CMSG_FIRSTHDR(&m);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
        }
        do
                w = sendmsg(q->fd, &m, MSG_NOSIGNAL);
        while (w < 0 && errno == EINTR);
        free(line);
        if (w < 0)
                return -errno;
        return (size_t) w == n + 1 ? 0 : -EIO;
}

int vm_qmp_command(VmQmp *q, const char *cmd, int pass_fd, char **ret_return, uint64_t deadline) {
        int r = send_line(q, cmd, pass_fd);

        if (r < 0)
                return r;
        for (;;) {
                json_t *o = read_object(q, deadline, &r), *v;
                if (!o)
                        return r;
                if (json_object_get(o, "event")) {
                        note_event(q, o);
                        json_decref(o);
                        continue;
                }
                if ((v = json_object_get(o, "return"))) {
                        r = 0;
                        if (ret_return) {
                                *ret_return = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                                r = *ret_return ? 0 : -ENOMEM;
                        }
                } else if ((v = json_object_get(o, "error"))) {
                        set_error(q, json_string_value(json_object_get(v, "desc")));
                        r = -EIO;
                } else
                        r = -EPROTO;
                json_decref(o);
                return r;
        }
}

int vm_qmp_wait_ports(VmQmp *q, unsigned n, uint64_t deadline) {
        int r;

        while (q->ports_open < n) {
                json_t *o = read_object(q, deadline, &r);
                if (!o)
                        return r;
                note_event(q, o);
                json_decref(o);
        }
        return 0;
}

int vm_qmp_wait_migration(VmQmp *q, uint64_t deadline) {
        for (;;) {
                _cleanup_free_ char *ret = NULL;
                int r = vm_qmp_command(q, "{\"execute\":\"query-migrate\"}", -1, &ret, deadline);
                if (r < 0)
                        return r;
                if (strstr(ret, "\"status\":\"completed\""))
                        return 0;
                if (strstr(ret, "\"status\":\"failed\"") ||
                    strstr(ret, "\"status\":\"cancelled\"")) {
                        json_t *o = json_loads(ret, 0, NULL);
                        set_error(q, json_string_value(json_object_get(o, "error-desc")));
                        json_decref(o);
                        return -EIO;
                }
                if (mono_ms() >= deadline)
                        return -ETIMEDOUT;
                (void) poll(NULL, 0, 1);
        }
}

void vm_qmp_close(VmQmp *q) {
        q->fd = safe_close(q->fd);
}
