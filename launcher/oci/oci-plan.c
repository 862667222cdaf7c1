/* SPDX-License-Identifier: MIT */
/* PURE. oci_plan_build(): config.json + the handler's profile -> OciPlan (rules in
 * oci-plan.h). The profile is overlaid with what the spec asks for where that is stricter or
 * allowed, then resolved by plan_resolve() like any profile, so a container gets exactly the
 * controls `moat run` would apply for the same profile; what only a container has is kept
 * beside the plan. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "basic/sha256.h"
#include "oci/oci-internal.h"
#include "plan/plan-internal.h"
#include "profile/egress.h"

/* The capabilities containerd, CRI-O and runc give every container by default. They are
 * dropped when the profile does not list them (the profile is the floor); any other capability
 * the profile does not list is refused. */
static const char *const default_caps[] = {
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
        NULL,
};

/* Bind sources that need no profile entry: the per-pod files the engine writes (hostname,
 * hosts, resolv.conf, the pod's /dev/shm) under its own state directories. */
static const char *const pod_dir_defaults[] = {
        "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes",
        "/run/containerd/io.containerd.grpc.v1.cri/sandboxes",
        "/var/lib/kubelet/pods",
        NULL,
};

typedef struct Builder {
        OciPlan *o;
        json_t *spec;
        Profile *pr; /* the chosen profile, overlaid */
        const char *const *pod_dirs;
        const Policy *policy;
        MoatError *e;
} Builder;

OciPlan *oci_plan_free(OciPlan *o) {
        if (!o)
                return NULL;
        plan_free(o->plan);
        free(o->profile_name);
        free(o->refusal);
        free(o->root);
        strv_free(o->args);
        strv_free(o->env);
        free(o->cwd);
        for (size_t i = 0; i < _OCI_NS_MAX; i++)
                free(o->ns_path[i]);
        free(o->cgroups_path);
        free(o->host_ns_origin);
        json_decref(o->seccomp);
        for (size_t i = 0; i < o->n_notes; i++) {
                free(o->notes[i].key);
                free(o->notes[i].sentence);
        }
        free(o->notes);
        /* after the plan, which points into them */
        profile_free(o->profiles[0]);
        profile_free(o->profiles[1]);
        free(o);
        return NULL;
}

static int vnote(OciPlan *o, const char *key, const char *fmt, va_list ap) {
        OciNote *n = realloc(o->notes, (o->n_notes + 1) * sizeof(*n));
        char *s = NULL;

        if (!n)
                return -ENOMEM;
        o->notes = n;
        if (vasprintf(&s, fmt, ap) < 0)
                return -ENOMEM;
        n[o->n_notes] = (OciNote){ .key = strdup(key), .sentence = s };
        if (!n[o->n_notes].key) {
                free(s);
                return -ENOMEM;
        }
        o->n_notes++;
        return 0;
}

static int note(Builder *b, const char *key, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int note(Builder *b, const char *key, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = vnote(b->o, key, fmt, ap);
        va_end(ap);
        return r;
}

/* The first refusal is the one users see (the last line of log.json); later ones are notes. */
static int refuse(Builder *b, const char *key, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int refuse(Builder *b, const char *key, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vnote(b->o, key, fmt, ap);
        va_end(ap);
        if (r < 0)
                return r;
        if (!b->o->refused) {
                const OciNote *n = &b->o->notes[b->o->n_notes - 1];
                b->o->refused = true;
                if (asprintf(&b->o->refusal, "%s (%s)", n->sentence, n->key) < 0) {
                        b->o->refusal = NULL;
                        return -ENOMEM;
                }
        }
        return 0;
}

static bool in_strv(const char *const *l, const char *s) {
        for (size_t i = 0; l && l[i]; i++)
                if (strcmp(l[i], s) == 0)
                        return true;
        return false;
}

static bool has_option(json_t *opts, const char *opt) {
        size_t i;
        json_t *x;
        json_array_foreach(opts, i, x) if (json_is_string(x) &&
                                           strcmp(json_string_value(x), opt) == 0) return true;
        return false;
}

static uint64_t size_option(json_t *opts) {
        size_t i;
        json_t *x;
        json_array_foreach(opts, i, x) {
                const char *s = json_string_value(x);
                char *end;
                if (!s || strncmp(s, "size=", 5) != 0)
                        continue;
                uint64_t v = strtoull(s + 5, &end, 10);
                if (*end == 'k' || *end == 'K')
                        v *= 1024;
                else if (*end == 'm' || *end == 'M')
                        v *= 1024 * 1024;
                else if (*end == 'g' || *end == 'G')
                        v *= 1024 * 1024 * 1024;
                return v;
        }
        return 0;
}

/* ---- which profile: the handler's floor, escalated only by annotation ---- */

static int landlock_rank(LandlockMode m) {
        return m == LANDLOCK_REQUIRED ? 0 : m == LANDLOCK_BEST_EFFORT ? 1 : 2;
}

/* The first key in which `other` lets the workload do more than `floor`, or NULL. */
static const char *profile_weaker_key(const Profile *floor, const Profile *other) {
        if (other->trust < floor->trust)
                return "trust";
        if (floor->isolation != TIER_AUTO &&
            (other->isolation == TIER_AUTO || other->isolation < floor->isolation))
                return "isolation";
        if (other->network > floor->network)
                return "network";
        /* outbound in both: every rule of the other's allowlist within one of the floor's */
        for (size_t i = 0; other->network == NETWORK_OUTBOUND && i < other->outbound.n_allow; i++) {
                bool covered = false;
                for (size_t j = 0; j < floor->outbound.n_allow && !covered; j++)
                        covered = egress_rule_covers(&floor->outbound.allow[j],
                                                     &other->outbound.allow[i]);
                if (!covered)
                        return "network.outbound.allow";
        }
        STRV_FOREACH (c, other->capabilities)
                if (!strv_contains(floor->capabilities, *c))
                        return "capabilities";
        STRV_FOREACH (d, other->devices)
                if (!strv_contains(floor->devices, *d))
                        return "devices";
        STRV_FOREACH (n, other->host_namespaces)
                if (!strv_contains(floor->host_namespaces, *n))
                        return "host_namespaces";
        if (strcmp(floor->syscalls.base ?: "default", other->syscalls.base ?: "default") != 0)
                return "syscalls.base";
        STRV_FOREACH (d, floor->syscalls.deny)
                if (!strv_contains(other->syscalls.deny, *d))
                        return "syscalls.deny";
        STRV_FOREACH (a, other->syscalls.allow)
                if (!strv_contains(floor->syscalls.allow, *a))
                        return "syscalls.allow";
        if (landlock_rank(other->mac.landlock) > landlock_rank(floor->mac.landlock))
                return "mac.landlock";
        if ((floor->mac.apparmor &&
             (!other->mac.apparmor || strcmp(floor->mac.apparmor, other->mac.apparmor) != 0)) ||
            (floor->mac.selinux &&
             (!other->mac.selinux || strcmp(floor->mac.selinux, other->mac.selinux) != 0)))
                return "mac";
        if (floor->mac.enforce == ENFORCE_REQUIRED && other->mac.enforce != ENFORCE_REQUIRED &&
            (floor->mac.apparmor || floor->mac.selinux))
                return "mac.enforce";
#define LIMIT(field, key)                                                                 \
        if (floor->resources.field &&                                                     \
            (!other->resources.field || other->resources.field > floor->resources.field)) \
                return key;
        LIMIT(memory, "resources.memory");
        LIMIT(cpus_milli, "resources.cpus");
        LIMIT(pids, "resources.pids");
        LIMIT(timeout_ms, "resources.timeout");
        LIMIT(cpu_time_ms, "resources.cpu_time");
        LIMIT(output, "resources.output");
        LIMIT(tmpfs_total, "resources.tmpfs_total");
        LIMIT(disk, "resources.disk");
        LIMIT(nofile, "resources.nofile");
#undef LIMIT
        if (floor->resources.enforce == ENFORCE_REQUIRED &&
            other->resources.enforce != ENFORCE_REQUIRED)
                return "resources.enforce";
        if (other->fs.sys && !floor->fs.sys)
                return "filesystem.sys";
        STRV_FOREACH (m, floor->fs.masked)
                if (!strv_contains(other->fs.masked, *m))
                        return "filesystem.mask";
        for (size_t i = 0; i < other->fs.n_binds; i++) {
                const ProfileBind *ob = &other->fs.binds[i];
                bool covered = false;
                for (size_t j = 0; j < floor->fs.n_binds; j++) {
                        const ProfileBind *fb = &floor->fs.binds[j];
                        if (strcmp(fb->source, ob->source) == 0 &&
                            strcmp(fb->target, ob->target) == 0 &&
                            (ob->mode == BIND_RO || fb->mode == BIND_RW) && (!ob->exec || fb->exec))
                                covered = true;
                }
                if (!covered)
                        return "filesystem.bind";
        }
        return NULL;
}

/* ---- the overlay: spec -> profile ---- */

static int profile_add_bind(Profile *pr, const char *source, const char *target, BindMode mode) {
        ProfileBind *n = realloc(pr->fs.binds, (pr->fs.n_binds + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        pr->fs.binds = n;
        n[pr->fs.n_binds] =
                (ProfileBind){ .source = strdup(source), .target = strdup(target), .mode = mode };
        if (!n[pr->fs.n_binds].source || !n[pr->fs.n_binds].target) {
                free(n[pr->fs.n_binds].source);
                free(n[pr->fs.n_binds].target);
                return -ENOMEM;
        }
        pr->fs.n_binds++;
        return 0;
}

static int profile_add_tmpfs(Profile *pr, const char *target, uint64_t size) {
        ProfileTmpfs *n = realloc(pr->fs.tmpfs, (pr->fs.n_tmpfs + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        pr->fs.tmpfs = n;
        n[pr->fs.n_tmpfs] = (ProfileTmpfs){ .target = strdup(target), .size = size };
        if (!n[pr->fs.n_tmpfs].target)
                return -ENOMEM;
        pr->fs.n_tmpfs++;
        return 0;
}

/* The profile's binds of the work directory have no meaning in a container (its files come
 * from the image and the spec's mounts); they are dropped, never pointed at the bundle, which
 * holds config.json. */
static int drop_workdir_binds(Builder *b) {
        Profile *pr = b->pr;
        size_t k = 0;
        int r;

        for (size_t i = 0; i < pr->fs.n_binds; i++) {
                ProfileBind *bd = &pr->fs.binds[i];
                if (bd->source[0] == '/') {
                        pr->fs.binds[k++] = *bd;
                        continue;
                }
                r = note(b, "filesystem.bind",
                         "%s -> %s: a container has no work directory; the image and the spec's "
                         "mounts give its files",
                         bd->source, bd->target);
                free(bd->source);
                free(bd->target);
                if (r < 0)
                        return r;
        }
        pr->fs.n_binds = k;
        return 0;
}

static const ProfileBind *profile_bind_for(const Profile *pr, const char *source) {
        for (size_t i = 0; i < pr->fs.n_binds; i++)
                if (strcmp(pr->fs.binds[i].source, source) == 0)
                        return &pr->fs.binds[i];
        return NULL;
}

static bool under_pod_dir(const char *const *dirs, const char *path) {
        for (size_t i = 0; dirs && dirs[i]; i++) {
                size_t n = strlen(dirs[i]);
                if (n > 1 && strncmp(path, dirs[i], n) == 0 && path[n] == '/' && path[n + 1])
                        return true;
        }
        return false;
}

/* The file systems every moat sandbox has (proc, the minimal /dev with pts and shm, /sys when
 * the profile allows it); the spec's entries for them are matched, not mounted twice. */
static int overlay_kernel_mount(Builder *b, const char *key, const char *type, const char *dest,
                                json_t *opts) {
        if (strcmp(type, "proc") == 0 && strcmp(dest, "/proc") == 0)
                return note(b, key, "/proc: moat's own proc (nosuid, nodev, noexec, masks)");
        if ((strcmp(type, "tmpfs") == 0 && strcmp(dest, "/dev") == 0) ||
            (strcmp(type, "devpts") == 0 && strcmp(dest, "/dev/pts") == 0) ||
            (strcmp(type, "tmpfs") == 0 && strcmp(dest, "/dev/shm") == 0))
                return note(b, key, "%s: part of moat's minimal /dev", dest);
        if (strcmp(type, "mqueue") == 0 && strcmp(dest, "/dev/mqueue") == 0)
                return note(b, key,
                            "/dev/mqueue: not mounted; POSIX message queues stay in the "
                            "container's own ipc namespace, reachable through mq_open()");
        if (strcmp(type, "sysfs") == 0 && strcmp(dest, "/sys") == 0) {
                if (!b->pr->fs.sys)
                        return note(b, key,
                                    "/sys: not mounted, the profile's filesystem.sys is false");
                return note(b, key, "/sys: moat's read-only sysfs with its masks");
        }
        if (strcmp(type, "cgroup") == 0 && strcmp(dest, "/sys/fs/cgroup") == 0)
                return note(b, key,
                            "/sys/fs/cgroup: not mounted; the container's limits are set from "
                            "outside at cgroupsPath");
        if (strcmp(type, "tmpfs") == 0) {
                uint64_t size = size_option(opts);
                int r = profile_add_tmpfs(b->pr, dest, size);
                if (r < 0)
                        return r;
                return note(b, key,
                            "%s: tmpfs (nosuid, nodev, noexec), counted in "
                            "resources.tmpfs_total",
                            dest);
        }
        return refuse(b, key, "mount type '%s' on %s is not supported", type, dest);
}

static int overlay_mounts(Builder *b) {
        static const char *const keys[] = { "destination", "type", "source", "options", NULL };
        size_t i;
        json_t *m;
        int r;

        json_array_foreach(json_object_get(b->spec, "mounts"), i, m) {
                char key[32];
                snprintf(key, sizeof(key), "mounts[%zu]", i);
                if ((r = oci_spec_check_keys(m, key, keys, b->e)) < 0)
                        return r;
                const char *dest = json_string_value(json_object_get(m, "destination"));
                const char *type = json_string_value(json_object_get(m, "type")) ?: "";
                const char *src = json_string_value(json_object_get(m, "source"));
                json_t *opts = json_object_get(m, "options");
                bool bind = strcmp(type, "bind") == 0 || has_option(opts, "bind") ||
                            has_option(opts, "rbind");

                if (!oci_path_is_normal(dest))
                        return oci_spec_error(b->e, key,
                                              "destination must be an absolute, normalised path");
                if (!bind) {
                        r = overlay_kernel_mount(b, key, type, dest, opts);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!oci_path_is_normal(src))
                        return refuse(b, key,
                                      "bind source '%s' is not an absolute, normalised path",
                                      src ?: "");
                BindMode mode = has_option(opts, "ro") ? BIND_RO : BIND_RW;
                const ProfileBind *listed = profile_bind_for(b->pr, src);
                if (listed) {
                        if (strcmp(listed->target, dest) != 0)
                                return refuse(b, "filesystem.bind",
                                              "%s: the profile binds it at %s, the spec at %s", src,
                                              listed->target, dest);
                        r = note(b, key, "%s -> %s: the profile's bind (%s)", src, dest,
                                 bind_mode_to_string(listed->mode));
                } else if (under_pod_dir(b->pod_dirs, src)) {
                        r = profile_add_bind(b->pr, src, dest, mode);
                        if (r >= 0)
                                r = note(b, key, "%s -> %s: pod file from the engine (%s, noexec)",
                                         src, dest, bind_mode_to_string(mode));
                } else
                        r = refuse(
                                b, "filesystem.bind",
                                "the spec binds the host path %s at %s; profile %s does not list "
                                "it in filesystem.bind",
                                src, dest, b->pr->name);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int overlay_caps(Builder *b, json_t *caps) {
        static const char *const keys[] = { "bounding",  "effective", "inheritable",
                                            "permitted", "ambient",   NULL };
        _cleanup_strv_free_ char **kept = NULL, **dropped = NULL;
        const char *k;
        json_t *set;
        int r;

        if (!caps)
                return 0;
        if ((r = oci_spec_check_keys(caps, "process.capabilities", keys, b->e)) < 0)
                return r;
        json_object_foreach(caps, k, set) {
                size_t i;
                json_t *c;
                json_array_foreach(set, i, c) {
                        const char *name = json_string_value(c);
                        char lower[64];
                        size_t n;
                        if (!name || strncmp(name, "CAP_", 4) != 0 || strlen(name) >= sizeof(lower))
                                return oci_spec_error(b->e, "process.capabilities",
                                                      "'%s' is not a capability name", name ?: "?");
                        for (n = 0; name[n + 4]; n++)
                                lower[n] = (char) (name[n + 4] | 0x20);
                        lower[n] = 0;
                        if (strv_contains(b->pr->capabilities, lower))
                                r = strv_extend_unique(&kept, lower);
                        else if (in_strv(default_caps, name))
                                r = strv_extend_unique(&dropped, name);
                        else
                                return refuse(b, "capabilities",
                                              "the spec asks for %s in process.capabilities.%s; "
                                              "profile %s does not list it",
                                              name, k, b->pr->name);
                        if (r < 0)
                                return r;
                }
        }
        if (dropped) {
                _cleanup_free_ char *list = NULL;
                STRV_FOREACH (d, dropped)
                        if (plan_append(&list, " ", "%s", *d) < 0)
                                return -ENOMEM;
                r = note(b, "capabilities",
                         "dropped, not in the profile's list (the engine's defaults): %s", list);
                if (r < 0)
                        return r;
        }
        strv_free(b->pr->capabilities);
        b->pr->capabilities = TAKE_PTR(kept);
        return 0;
}

static int overlay_resources(Builder *b, json_t *res) {
        static const char *const keys[] = { "devices", "memory",  "cpu",
                                            "pids",    "blockIO", "hugepageLimits",
                                            "network", "rdma",    "unified",
                                            NULL };
        static const char *const mem_keys[] = { "limit",
                                                "reservation",
                                                "swap",
                                                "kernel",
                                                "kernelTCP",
                                                "swappiness",
                                                "disableOOMKiller",
                                                "useHierarchy",
                                                "checkBeforeUpdate",
                                                NULL };
        static const char *const cpu_keys[] = {
                "shares", "quota", "period", "realtimeRuntime", "realtimePeriod",
                "cpus",   "mems",  "idle",   "burst",           NULL
        };
        static const char *const unsupported[] = { "blockIO", "hugepageLimits", "network",
                                                   "rdma",    "unified",        NULL };
        typeof(b->pr->resources) *pr = &b->pr->resources;
        json_t *mem, *cpu, *pids;
        uint64_t v, quota, period;
        char bad[64];
        int r;

        if (!res)
                return 0;
        if ((r = oci_spec_check_keys(res, "linux.resources", keys, b->e)) < 0)
                return r;
        for (size_t i = 0; unsupported[i]; i++)
                if (oci_spec_is_set(json_object_get(res, unsupported[i])))
                        return refuse(b, "linux.resources",
                                      "linux.resources.%s is not supported by moat's cgroup setup",
                                      unsupported[i]);
        if (oci_spec_check_devices(json_object_get(res, "devices"), bad, sizeof(bad)) < 0)
                return refuse(b, "devices",
                              "%s allows a device beyond moat's minimal /dev; profile %s lists no "
                              "such device",
                              bad, b->pr->name);
        if ((mem = json_object_get(res, "memory"))) {
                if ((r = oci_spec_check_keys(mem, "linux.resources.memory", mem_keys, b->e)) < 0)
                        return r;
                static const char *const mem_refused[] = { "kernel", "kernelTCP", "swappiness",
                                                           "disableOOMKiller", NULL };
                for (size_t i = 0; mem_refused[i]; i++)
                        if (oci_spec_is_set(json_object_get(mem, mem_refused[i])))
                                return refuse(b, "linux.resources",
                                              "linux.resources.memory.%s is not supported",
                                              mem_refused[i]);
                if ((r = oci_spec_u64(json_object_get(mem, "limit"), "linux.resources.memory.limit",
                                      &v, b->e)) < 0)
                        return r;
                if (v && (!pr->memory || v < pr->memory))
                        pr->memory = v;
                if (oci_spec_is_set(json_object_get(mem, "reservation")) &&
                    (r = note(b, "linux.resources.memory.reservation",
                              "a soft target; moat sets only the hard limit")) < 0)
                        return r;
        }
        if ((cpu = json_object_get(res, "cpu"))) {
                if ((r = oci_spec_check_keys(cpu, "linux.resources.cpu", cpu_keys, b->e)) < 0)
                        return r;
                static const char *const cpu_refused[] = {
                        "realtimeRuntime", "realtimePeriod", "cpus", "mems", "idle", "burst", NULL
                };
                for (size_t i = 0; cpu_refused[i]; i++)
                        if (oci_spec_is_set(json_object_get(cpu, cpu_refused[i])))
                                return refuse(b, "linux.resources",
                                              "linux.resources.cpu.%s is not supported",
                                              cpu_refused[i]);
                if ((r = oci_spec_u64(json_object_get(cpu, "quota"), "linux.resources.cpu.quota",
                                      &quota, b->e)) < 0 ||
                    (r = oci_spec_u64(json_object_get(cpu, "period"), "linux.resources.cpu.period",
                                      &period, b->e)) < 0 ||
                    (r = oci_spec_u64(json_object_get(cpu, "shares"), "linux.resources.cpu.shares",
                                      &v, b->e)) < 0)
                        return r;
                if (quota) {
                        uint64_t milli = quota * 1000 / (period ? period : 100000);
                        if (milli == 0)
                                milli = 1;
                        if (!pr->cpus_milli || milli < pr->cpus_milli)
                                pr->cpus_milli = (uint32_t) MIN(milli, (uint64_t) UINT32_MAX);
                }
                /* cgroup v2 weight from v1 shares, as runc and crun convert it */
                if (v) {
                        b->o->cpu_shares = MIN(MAX(v, 2u), 262144u);
                        b->o->cpu_weight = oci_cpu_weight_from_shares(v);
                }
        }
        if ((pids = json_object_get(res, "pids"))) {
                static const char *const pid_keys[] = { "limit", NULL };
                if ((r = oci_spec_check_keys(pids, "linux.resources.pids", pid_keys, b->e)) < 0)
                        return r;
                json_int_t lim = json_integer_value(json_object_get(pids, "limit"));
                if (lim > 0 && (!pr->pids || (uint64_t) lim < pr->pids))
                        pr->pids = (uint64_t) lim;
        }
        return 0;
}

/* The namespaces a container may share with the host, as Kubernetes names the pod setting. */
static const struct {
        OciNamespace ns;
        const char *k8s;
} host_ns_names[] = {
        { OCI_NS_NETWORK, "hostNetwork" },
        { OCI_NS_PID, "hostPID" },
        { OCI_NS_IPC, "hostIPC" },
        { OCI_NS_UTS, "hostNetwork" },
        { OCI_NS_MOUNT, "a shared mount namespace" },
};

/* What the profile's host_namespaces allows, narrowed by the site policy's. */
static int compute_host_allowed(Builder *b) {
        const Profile *pr = b->pr;
        char where[300];

        if (!pr->host_namespaces || !pr->host_namespaces[0])
                return 0;
        plan_format_pos(&pr->host_namespaces_list_pos, where, sizeof(where));
        if (asprintf(&b->o->host_ns_origin, "host_namespaces at %s", where) < 0) {
                b->o->host_ns_origin = NULL;
                return -ENOMEM;
        }
        STRV_FOREACH (n, pr->host_namespaces) {
                int t = oci_namespace_from_string(*n);
                if (t < 0)
                        continue;
                b->o->host_ns_allowed[t] = !b->policy || !b->policy->host_namespaces.set ||
                                           strv_contains(b->policy->host_namespaces.allow, *n);
        }
        return 0;
}

/* linux.namespaces. Paths of the form /proc/PID/ns/TYPE name another container's namespaces
 * (a pod's pause); they are all of one process, and its user namespace is joined first, since
 * moat's containers own their namespaces from their user namespace. Any other path is a
 * network namespace made by CNI, joined as root before moat's user namespace is made. */
static int overlay_namespaces(Builder *b) {
        bool listed[_OCI_NS_MAX] = {};
        long pod_pid = -1;
        size_t i;
        json_t *n;
        int r;

        if (!json_is_array(json_object_get(json_object_get(b->spec, "linux"), "namespaces")))
                return oci_spec_error(b->e, "linux.namespaces", "expected an array");
        if ((r = compute_host_allowed(b)) < 0)
                return r;
        /* Transparent egress (slirp4netns and nftables loaded by the sandbox's root before its
         * capabilities drop) is built by moat run's sandbox executor; the OCI runtime serves
         * network: outbound with the proxy only. Refused here, before anything is created. */
        if (b->pr->network == NETWORK_OUTBOUND && b->pr->outbound.via == OUTBOUND_VIA_TRANSPARENT)
                return refuse(b, "network",
                              "profile %s has network: outbound with via: transparent, which "
                              "only moat run provides; as an OCI runtime moat serves the "
                              "allowlist through its proxy: use via: proxy",
                              b->pr->name);
        json_array_foreach(json_object_get(json_object_get(b->spec, "linux"), "namespaces"), i, n) {
                static const char *const keys[] = { "type", "path", NULL };
                const char *type = json_string_value(json_object_get(n, "type"));
                const char *path = json_string_value(json_object_get(n, "path"));
                int t = oci_namespace_from_string(type);
                char key[40];

                snprintf(key, sizeof(key), "linux.namespaces[%zu]", i);
                if ((r = oci_spec_check_keys(n, key, keys, b->e)) < 0)
                        return r;
                if (t < 0 || listed[t])
                        return oci_spec_error(b->e, key, "unknown or repeated type '%s'",
                                              type ?: "");
                listed[t] = true;
                if (!path || !*path)
                        continue;
                if (!oci_path_is_normal(path))
                        return refuse(b, key, "namespace path '%s' is not absolute and normalised",
                                      path);
                /* network: outbound is served by moat's proxy on the container's own loopback,
                 * the only interface of a network namespace moat makes. A namespace given by
                 * path (a pod's, set up by CNI or another container) has its own routes: the
                 * workload would reach everything around the allowlist. */
                if (t == OCI_NS_NETWORK && b->pr->network == NETWORK_OUTBOUND)
                        return refuse(b, key,
                                      "the spec joins the network namespace %s, and profile %s "
                                      "has network: outbound, whose allowlist is served by "
                                      "moat's proxy on the container's own loopback; a pod's "
                                      "network would reach everything around it: run it "
                                      "outside a pod (no network namespace path), or use a "
                                      "profile with network: none or loopback",
                                      path, b->pr->name);
                long pid = -1;
                char tail[16] = "";
                int consumed = 0;
                if (sscanf(path, "/proc/%ld/ns/%15[a-z]%n", &pid, tail, &consumed) == 2 &&
                    path[consumed] == '\0' && pid > 0) {
                        /* setns() would refuse it only at create, with a bare EINVAL */
                        if (strcmp(tail, oci_namespace_proc_name(t)) != 0)
                                return refuse(b, key,
                                              "the %s namespace's path %s names a namespace of "
                                              "another type (/proc/PID/ns/%s)",
                                              type, path, oci_namespace_proc_name(t));
                        if (pod_pid > 0 && pid != pod_pid)
                                return refuse(b, key,
                                              "namespaces joined from two processes (%ld, %ld)",
                                              pod_pid, pid);
                        pod_pid = pid;
                } else if (t != OCI_NS_NETWORK)
                        return refuse(b, key, "joining a %s namespace by the path %s is refused",
                                      type, path);
                else {
                        /* The stricter wins: the profile allows no network beyond loopback
                         * (outbound is refused above), so the pod network the engine set up is
                         * not joined; the container (and the pod's other containers, which
                         * join it by /proc path) get a network namespace of moat's own. */
                        r = note(b, "network",
                                 "the spec joins the pod network %s; profile %s has network: %s, "
                                 "so the container gets a network namespace of its own instead",
                                 path, b->pr->name, network_mode_to_string(b->pr->network));
                        if (r < 0)
                                return r;
                        continue;
                }
                if (t == OCI_NS_MOUNT || t == OCI_NS_CGROUP || t == OCI_NS_TIME)
                        return refuse(b, key, "joining a %s namespace is refused", type);
                if (!(b->o->ns_path[t] = strdup(path)))
                        return -ENOMEM;
        }
        if (pod_pid > 0) {
                char user[64];
                snprintf(user, sizeof(user), "/proc/%ld/ns/user", pod_pid);
                if (b->o->ns_path[OCI_NS_USER] && strcmp(b->o->ns_path[OCI_NS_USER], user) != 0)
                        return refuse(b, "linux.namespaces",
                                      "the user namespace must be the one of process %ld", pod_pid);
                free(b->o->ns_path[OCI_NS_USER]);
                if (!(b->o->ns_path[OCI_NS_USER] = strdup(user)))
                        return -ENOMEM;
                if ((r = note(b, "linux.namespaces",
                              "joins the namespaces of process %ld, its user namespace first",
                              pod_pid)) < 0)
                        return r;
        } else if (b->o->ns_path[OCI_NS_USER])
                return refuse(b, "linux.namespaces", "joining a user namespace alone is refused");

        for (size_t k = 0; k < ELEMENTSOF(host_ns_names); k++) {
                OciNamespace t = host_ns_names[k].ns;
                const char *name = oci_namespace_to_string(t), *k8s = host_ns_names[k].k8s;
                if (listed[t])
                        continue;
                if (t == OCI_NS_MOUNT)
                        return refuse(b, "filesystem",
                                      "the spec shares the host's mount namespace; moat's root "
                                      "needs a mount namespace of its own");
                if (!strv_contains(b->pr->host_namespaces, name))
                        return refuse(b, "host_namespaces",
                                      "the spec shares the host's %s namespace (%s); profile %s "
                                      "does not list %s in host_namespaces",
                                      name, k8s, b->pr->name, name);
                if (!b->o->host_ns_allowed[t]) {
                        char where[300];
                        plan_format_pos(&b->policy->host_namespaces.pos, where, sizeof(where));
                        return refuse(b, "host_namespaces",
                                      "the spec shares the host's %s namespace (%s); profile %s "
                                      "allows it (%s) but the site policy does not "
                                      "(host_namespaces at %s)",
                                      name, k8s, b->pr->name, b->o->host_ns_origin, where);
                }
                b->o->host_ns[t] = true;
                r = note(b, "host_namespaces",
                         "the host's %s namespace (%s): the spec leaves it out of "
                         "linux.namespaces and profile %s allows it (%s)",
                         name, k8s, b->pr->name, b->o->host_ns_origin);
                if (r < 0)
                        return r;
        }
        /* sysfs belongs to a network namespace: moat's user namespace cannot mount the host's */
        if (b->o->host_ns[OCI_NS_NETWORK] && b->pr->fs.sys)
                return refuse(b, "filesystem.sys",
                              "profile %s has filesystem.sys: true; sysfs cannot be mounted for "
                              "the host's network namespace from moat's user namespace",
                              b->pr->name);
        if (!listed[OCI_NS_USER] && (r = note(b, "linux.namespaces",
                                              "no user namespace asked for: moat makes one, with "
                                              "a single-id map")) < 0)
                return r;
        if (!listed[OCI_NS_CGROUP] &&
            (r = note(b, "linux.namespaces", "no cgroup namespace asked for: moat makes one")) < 0)
                return r;
        return 0;
}

/* process (config.json) and the process.json of an exec: the same keys. */
static const char *const process_keys[] = {
        "terminal",
        "consoleSize",
        "user",
        "args",
        "env",
        "cwd",
        "capabilities",
        "rlimits",
        "noNewPrivileges",
        "apparmorProfile",
        "oomScoreAdj",
        "selinuxLabel",
        NULL,
};

static int overlay_process(Builder *b, json_t *proc) {
        static const char *const user_keys[] = { "uid", "gid", "umask", "additionalGids", NULL };
        json_t *user, *x;
        size_t i;
        int r;

        if ((r = oci_spec_check_keys(proc, "process", process_keys, b->e)) < 0)
                return r;
        if ((r = oci_spec_strv(json_object_get(proc, "args"), "process.args", &b->o->args, b->e)) <
            0)
                return r;
        if (!b->o->args || !b->o->args[0])
                return oci_spec_error(b->e, "process.args", "missing or empty");
        if ((r = oci_spec_strv(json_object_get(proc, "env"), "process.env", &b->o->env, b->e)) < 0)
                return r;
        const char *cwd = json_string_value(json_object_get(proc, "cwd"));
        if (!oci_path_is_normal(cwd))
                return oci_spec_error(b->e, "process.cwd", "expected an absolute path");
        if (!(b->o->cwd = strdup(cwd)))
                return -ENOMEM;
        b->o->terminal = json_is_true(json_object_get(proc, "terminal"));
        user = json_object_get(proc, "user");
        if ((r = oci_spec_check_keys(user, "process.user", user_keys, b->e)) < 0)
                return r;
        uint64_t uid, gid;
        if ((r = oci_spec_u64(json_object_get(user, "uid"), "process.user.uid", &uid, b->e)) < 0 ||
            (r = oci_spec_u64(json_object_get(user, "gid"), "process.user.gid", &gid, b->e)) < 0)
                return r;
        b->o->uid = (uid_t) uid;
        b->o->gid = (gid_t) gid;
        b->pr->uid = (uid_t) uid;
        b->pr->gid = (gid_t) gid;
        b->pr->uid_set = true;
        json_array_foreach(json_object_get(user, "additionalGids"), i,
                           x) if (!json_is_integer(x) ||
                                  (uint64_t) json_integer_value(x) !=
                                          gid) return refuse(b, "process.user.additionalGids",
                                                             "supplementary groups other than the "
                                                             "primary one cannot be "
                                                             "mapped (moat maps a single id)");
        if (json_object_get(user, "umask") &&
            (r = note(b, "process.user.umask", "not applied: the workload starts with 022")) < 0)
                return r;
        if (!json_is_true(json_object_get(proc, "noNewPrivileges")) &&
            (r = note(b, "process.noNewPrivileges",
                      "false or absent in the spec: moat sets no_new_privs on every workload")) < 0)
                return r;
        if ((x = json_object_get(proc, "oomScoreAdj"))) {
                if (!json_is_integer(x) || json_integer_value(x) < -1000 ||
                    json_integer_value(x) > 1000)
                        return oci_spec_error(b->e, "process.oomScoreAdj", "expected -1000..1000");
                b->o->has_oom_score_adj = true;
                b->o->oom_score_adj = (int) json_integer_value(x);
        }
        const char *aa = json_string_value(json_object_get(proc, "apparmorProfile"));
        if (aa && *aa && (!b->pr->mac.apparmor || strcmp(aa, b->pr->mac.apparmor) != 0))
                return refuse(b, "mac.apparmor",
                              "the spec asks for the AppArmor profile %s; profile %s has %s", aa,
                              b->pr->name, b->pr->mac.apparmor ?: "none");
        const char *se = json_string_value(json_object_get(proc, "selinuxLabel"));
        if (se && *se && (!b->pr->mac.selinux || strcmp(se, b->pr->mac.selinux) != 0))
                return refuse(b, "mac.selinux",
                              "the spec asks for the SELinux label %s; profile %s has %s", se,
                              b->pr->name, b->pr->mac.selinux ?: "none");
        return overlay_caps(b, json_object_get(proc, "capabilities"));
}

static int overlay_linux(Builder *b, json_t *lx) {
        static const char *const keys[] = { "namespaces",  "uidMappings",       "gidMappings",
                                            "timeOffsets", "devices",           "cgroupsPath",
                                            "resources",   "rootfsPropagation", "seccomp",
                                            "sysctl",      "maskedPaths",       "readonlyPaths",
                                            "mountLabel",  "intelRdt",          "personality",
                                            NULL };
        static const char *const refused[] = { "uidMappings", "gidMappings", "timeOffsets",
                                               "devices",     "sysctl",      "intelRdt",
                                               "personality", NULL };
        int r;

        if ((r = oci_spec_check_keys(lx, "linux", keys, b->e)) < 0)
                return r;
        for (size_t i = 0; refused[i]; i++)
                if (oci_spec_is_set(json_object_get(lx, refused[i])))
                        return refuse(b, strcmp(refused[i], "devices") == 0 ? "devices" : "linux",
                                      "linux.%s is not supported in profile %s", refused[i],
                                      b->pr->name);
        const char *prop = json_string_value(json_object_get(lx, "rootfsPropagation"));
        if (prop && *prop && strcmp(prop, "private") != 0 && strcmp(prop, "rprivate") != 0 &&
            strcmp(prop, "slave") != 0 && strcmp(prop, "rslave") != 0)
                return refuse(b, "linux.rootfsPropagation",
                              "'%s': moat's mounts never propagate to the host", prop);
        const char *ml = json_string_value(json_object_get(lx, "mountLabel"));
        if (ml && *ml)
                return refuse(b, "mac.selinux", "linux.mountLabel is not supported");
        const char *cg = json_string_value(json_object_get(lx, "cgroupsPath"));
        if (cg && *cg) {
                if (!oci_path_is_normal(cg))
                        return refuse(b, "linux.cgroupsPath",
                                      "'%s' is not an absolute, normalised path (systemd slice "
                                      "paths need --systemd-cgroup, which moat refuses)",
                                      cg);
                if (!(b->o->cgroups_path = strdup(cg)))
                        return -ENOMEM;
        }
        json_t *sc = json_object_get(lx, "seccomp");
        if (sc) {
                if ((r = oci_spec_check_seccomp(sc, b->e)) < 0)
                        return r;
                b->o->seccomp = json_deep_copy(sc);
                if (!b->o->seccomp)
                        return -ENOMEM;
        }
        if ((r = overlay_resources(b, json_object_get(lx, "resources"))) < 0)
                return r;
        return overlay_namespaces(b);
}

/* Landlock's signal scope (LANDLOCK_SCOPE_SIGNAL, ABI 6, Linux 6.12): a workload signals only
 * processes of its own Landlock domain. */
#define OCI_LANDLOCK_SCOPE_SIGNAL (UINT64_C(1) << 1)

/* In the host's pid namespace the workload, whose uid 0 is root's uid outside, could signal
 * every root process of the host (kill(2) checks uids, not user namespaces): only with the
 * signal scope required. ptrace, /proc/PID/{environ,mem,root,exe} and the fd targets of the
 * host's processes stay denied (they are in another user namespace, whose capabilities it has
 * none of). */
static bool host_pid_confined(const Plan *p) {
        return p && p->sandbox.landlock.status == CONTROL_REQUIRED &&
               (p->sandbox.landlock.scoped & OCI_LANDLOCK_SCOPE_SIGNAL);
}

#define HOST_PID_UNCONFINED                                                                      \
        "in the host's pid namespace the workload (root's uid outside) could signal every root " \
        "process of the host: that needs Landlock's signal scope (ABI 6, Linux 6.12) as a "      \
        "required control, which this plan does not have (mac.landlock)"

/* One sentence of what the workload reaches, replaced. */
static int replace_reachable(Plan *p, const char *match, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int replace_reachable(Plan *p, const char *match, const char *fmt, ...) {
        for (size_t i = 0; p && p->reachable && p->reachable[i]; i++) {
                char *r = p->reachable[i], *n = NULL;
                va_list ap;
                if (!strstr(r, match))
                        continue;
                va_start(ap, fmt);
                int k = vasprintf(&n, fmt, ap);
                va_end(ap);
                if (k < 0)
                        return -ENOMEM;
                free(r);
                p->reachable[i] = n;
        }
        return 0;
}

/* The plan's control for a namespace shared with the host: degraded, naming the profile key;
 * what the workload reaches says so; for pid, the host's /proc in place of moat's own. */
static int mark_host_control(OciPlan *o, OciNamespace ns, const char *how) {
        const char *control = ns == OCI_NS_NETWORK ? "netns"
                              : ns == OCI_NS_PID   ? "pidns"
                              : ns == OCI_NS_IPC   ? "ipcns"
                                                   : "utsns";
        const char *origin = o->host_ns_origin ?: "host_namespaces";
        const char *k8s = "";
        int r;

        for (size_t k = 0; k < ELEMENTSOF(host_ns_names); k++)
                if (host_ns_names[k].ns == ns)
                        k8s = host_ns_names[k].k8s;
        for (size_t i = 0; o->plan && i < o->plan->n_controls; i++) {
                PlanControl *c = &o->plan->controls[i];
                if (strcmp(c->name, control) != 0)
                        continue;
                free(c->detail);
                free(c->reason);
                c->reason = NULL;
                c->status = CONTROL_DEGRADED;
                if (asprintf(&c->detail, "the host's %s namespace (%s)",
                             oci_namespace_to_string(ns), k8s) < 0) {
                        c->detail = NULL;
                        return -ENOMEM;
                }
                if (asprintf(&c->reason, "%s; allowed by profile %s (%s)", how, o->profile_name,
                             origin) < 0) {
                        c->reason = NULL;
                        return -ENOMEM;
                }
        }
        if (ns == OCI_NS_NETWORK)
                return replace_reachable(o->plan, "loopback",
                                         "the host's network namespace: its interfaces and "
                                         "addresses, and whatever the host reaches, as an "
                                         "unprivileged user (%s)",
                                         origin);
        if (ns != OCI_NS_PID || !o->plan)
                return 0;
        /* A proc file system for the host's pid namespace can only be mounted with its owner's
         * (the initial user namespace's) CAP_SYS_ADMIN: the host's /proc is bound instead,
         * with the same masks and read-only parts over it. */
        for (size_t i = 0; i < o->plan->sandbox.n_mounts; i++) {
                PlanMount *m = &o->plan->sandbox.mounts[i];
                if (m->kind != PLAN_MOUNT_PROC || strcmp(m->target, "/proc") != 0)
                        continue;
                free(m->source);
                if (!(m->source = strdup("/proc")))
                        return -ENOMEM;
                m->kind = PLAN_MOUNT_BIND;
                m->flags |= PLAN_MOUNT_NOSUID | PLAN_MOUNT_NODEV | PLAN_MOUNT_NOEXEC;
        }
        if ((r = replace_reachable(o->plan, "its own /proc",
                                   "the host's /proc (every process's pid, command line and "
                                   "status; the same paths masked) and a minimal /dev (%s)",
                                   origin)) < 0)
                return r;
        return replace_reachable(o->plan, "signals and ptrace",
                                 "the host's processes, seen in /proc: signals only to its own "
                                 "(Landlock signal scope); ptrace and their environ, memory "
                                 "and fd targets denied (another user namespace's)");
}

int oci_plan_share_host(OciPlan *o, OciNamespace ns, const char *how, char **ret_refusal) {
        *ret_refusal = NULL;
        if (ns < 0 || ns >= _OCI_NS_MAX || !o->host_ns_allowed[ns]) {
                bool listed = false;
                Profile *pr = o->profiles[1] ? o->profiles[1] : o->profiles[0];
                const char *name = oci_namespace_to_string(ns) ?: "?";
                if (pr && strv_contains(pr->host_namespaces, name))
                        listed = true;
                int r = asprintf(ret_refusal,
                                 "%s, which is the host's %s namespace; %s (host_namespaces)", how,
                                 name,
                                 listed ? "the site policy's host_namespaces does not allow it"
                                 : ns == OCI_NS_NETWORK || ns == OCI_NS_PID || ns == OCI_NS_IPC ||
                                                 ns == OCI_NS_UTS
                                         ? "the profile does not list it in host_namespaces"
                                         : "moat never shares it");
                if (r < 0)
                        *ret_refusal = NULL;
                return r < 0 ? -ENOMEM : -EPERM;
        }
        if (ns == OCI_NS_PID && !host_pid_confined(o->plan)) {
                if (asprintf(ret_refusal, "%s, which is the host's pid namespace; %s", how,
                             HOST_PID_UNCONFINED) < 0)
                        *ret_refusal = NULL;
                return *ret_refusal ? -EPERM : -ENOMEM;
        }
        o->host_ns[ns] = true;
        return mark_host_control(o, ns, how);
}

/* After plan_resolve(): the spec's masks and read-only paths beside moat's own, its rlimits
 * (the smaller value wins), and the workload's environment. */
static int finish_plan(Builder *b) {
        Plan *p = b->o->plan;
        json_t *lx = json_object_get(b->spec, "linux"), *x;
        size_t i;
        int r;

        static const struct {
                const char *key;
                PlanMountKind kind;
        } lists[] = { { "maskedPaths", PLAN_MOUNT_MASK },
                      { "readonlyPaths", PLAN_MOUNT_READONLY } };
        for (size_t l = 0; l < ELEMENTSOF(lists); l++)
                json_array_foreach(json_object_get(lx, lists[l].key), i, x) {
                        const char *path = json_string_value(x);
                        bool dup = false;
                        if (!oci_path_is_normal(path))
                                return oci_spec_error(b->e, lists[l].key, "'%s' is not absolute",
                                                      path ?: "?");
                        for (size_t m = 0; m < p->sandbox.n_mounts; m++)
                                if (p->sandbox.mounts[m].kind == lists[l].kind &&
                                    strcmp(p->sandbox.mounts[m].target, path) == 0)
                                        dup = true;
                        if (!dup && (r = plan_add_mount(p, lists[l].kind, NULL, path,
                                                        PLAN_MOUNT_OPTIONAL, 0, NULL)) < 0)
                                return r;
                }
        json_array_foreach(json_object_get(json_object_get(b->spec, "process"), "rlimits"), i, x) {
                static const char *const keys[] = { "type", "soft", "hard", NULL };
                uint64_t soft, hard;
                int res = oci_rlimit_from_name(json_string_value(json_object_get(x, "type")));
                bool found = false;

                if ((r = oci_spec_check_keys(x, "process.rlimits", keys, b->e)) < 0)
                        return r;
                if (res < 0)
                        return oci_spec_error(b->e, "process.rlimits", "unknown type");
                if ((r = oci_spec_u64(json_object_get(x, "soft"), "process.rlimits", &soft, b->e)) <
                            0 ||
                    (r = oci_spec_u64(json_object_get(x, "hard"), "process.rlimits", &hard, b->e)) <
                            0)
                        return r;
                if (soft > hard)
                        return oci_spec_error(b->e, "process.rlimits", "soft above hard");
                for (size_t k = 0; k < p->sandbox.n_rlimits; k++) {
                        PlanRlimit *pl = &p->sandbox.rlimits[k];
                        if (pl->resource != res)
                                continue;
                        found = true;
                        pl->hard = MIN(pl->hard, hard);
                        pl->soft = MIN(MIN(pl->soft, soft), pl->hard);
                }
                if (!found && (r = plan_add_rlimit(p, res, soft, hard)) < 0)
                        return r;
        }
        /* Denials reach moat's supervisor through a seccomp listener in `moat run`; a container
         * keeps no supervisor after create, so a denied call fails with the rule's errno. */
        if (p->sandbox.seccomp.notify_denials) {
                p->sandbox.seccomp.notify_denials = false;
                if ((r = note(b, "syscalls",
                              "denied system calls fail with their errno and are not reported "
                              "in the audit record: no supervisor stays after create")) < 0)
                        return r;
        }
        /* A namespace joined by path is not made: the plan lists what the executor creates. */
        static const struct {
                OciNamespace ns;
                uint64_t flag;
        } clone_of[] = { { OCI_NS_PID, CLONE_NEWPID },
                         { OCI_NS_NETWORK, CLONE_NEWNET },
                         { OCI_NS_IPC, CLONE_NEWIPC },
                         { OCI_NS_UTS, CLONE_NEWUTS },
                         { OCI_NS_USER, CLONE_NEWUSER } };
        for (size_t k = 0; k < ELEMENTSOF(clone_of); k++)
                if (b->o->ns_path[clone_of[k].ns] || b->o->host_ns[clone_of[k].ns])
                        p->sandbox.clone_flags &= ~clone_of[k].flag;
        if (b->o->host_ns[OCI_NS_PID] && !host_pid_confined(p))
                return refuse(b, "host_namespaces",
                              "the spec shares the host's pid namespace "
                              "(hostPID); " HOST_PID_UNCONFINED);
        for (size_t k = 0; k < ELEMENTSOF(host_ns_names); k++)
                if (b->o->host_ns[host_ns_names[k].ns] &&
                    (r = mark_host_control(b->o, host_ns_names[k].ns,
                                           "the spec leaves it out of linux.namespaces")) < 0)
                        return r;
        /* The workload's environment is the image's (process.env) and the profile's env.set;
         * nothing of the engine's own environment passes. */
        p->env_clear = true;
        p->env_allow = strv_free(p->env_allow);
        _cleanup_strv_free_ char **env = strv_copy(b->o->env);
        if (b->o->env && !env)
                return -ENOMEM;
        STRV_FOREACH (s, p->env_set)
                if (strv_extend(&env, *s) < 0)
                        return -ENOMEM;
        strv_free(p->env_set);
        p->env_set = TAKE_PTR(env);
        return 0;
}

static int choose_profile(Builder *b, Profile *floor, Profile *esc, const char *esc_error) {
        const char *want = oci_spec_annotation(b->spec, "io.moat.profile");

        b->pr = floor;
        if (!(b->o->profile_name = strdup(floor->name)))
                return -ENOMEM;
        if (!want || strcmp(want, floor->name) == 0)
                return 0;
        if (!esc)
                return refuse(b, "io.moat.profile", "annotation io.moat.profile=%s: %s", want,
                              esc_error ?: "the profile cannot be loaded");
        const char *weaker = profile_weaker_key(floor, esc);
        if (weaker)
                return refuse(b, weaker,
                              "annotation io.moat.profile=%s is weaker than the handler's profile "
                              "%s in %s: annotations may only escalate",
                              want, floor->name, weaker);
        b->pr = esc;
        b->o->from_annotation = true;
        free(b->o->profile_name);
        return (b->o->profile_name = strdup(esc->name)) ? 0 : -ENOMEM;
}

static int check_tier(Builder *b) {
        const char *want = oci_spec_annotation(b->spec, "io.moat.tier");
        Plan *p = b->o->plan;

        /* A plan above the sandbox tier is refused for that first: its own refusals (of the
         * vm or system tier) are not what keeps it from running here. */
        if (p->refused && p->tier == TIER_SANDBOX)
                return refuse(b, "plan", "%s", p->refusal ?: "the plan is refused");
        if (want) {
                int t = tier_from_string(want);
                if (t < 0 || t == TIER_AUTO)
                        return refuse(b, "io.moat.tier",
                                      "annotation io.moat.tier=%s is not sandbox, system or vm",
                                      want);
                if ((Tier) t < p->tier)
                        return refuse(b, "io.moat.tier",
                                      "annotation io.moat.tier=%s is below the %s tier profile %s "
                                      "needs: annotations may only escalate",
                                      want, tier_to_string(p->tier), b->pr->name);
                if ((Tier) t > p->tier)
                        return refuse(b, "io.moat.tier",
                                      "annotation io.moat.tier=%s: the %s tier is not available "
                                      "to containers yet (no VM runtime for pods); moat oci runs "
                                      "the sandbox tier",
                                      want, want);
        }
        if (p->tier != TIER_SANDBOX)
                return refuse(b, "isolation",
                              "profile %s needs the %s tier here, which is not available to "
                              "containers yet (no VM runtime for pods); moat oci runs the "
                              "sandbox tier",
                              b->pr->name, tier_to_string(p->tier));
        return 0;
}

int oci_plan_build(json_t *spec, const char *config_text, size_t config_len, const char *bundle,
                   Profile *profile, Profile *escalated, const char *annotation_error,
                   const Policy *policy, const HostFacts *host, OciPlan **ret, MoatError *error) {
        static const char *const keys[] = { "ociVersion", "process", "root",  "hostname",
                                            "domainname", "mounts",  "hooks", "annotations",
                                            "linux",      NULL };
        static const char *const root_keys[] = { "path", "readonly", NULL };
        _cleanup_oci_plan_ OciPlan *o = calloc(1, sizeof(OciPlan));
        Builder b = {
                .o = o, .spec = spec, .pod_dirs = pod_dir_defaults, .policy = policy, .e = error
        };
        int r;

        if (!o)
                return -ENOMEM;
        sha256_buffer(config_text, config_len, o->spec_digest);
        if ((r = oci_spec_check_keys(spec, "config.json", keys, error)) < 0)
                return r;
        const char *ver = json_string_value(json_object_get(spec, "ociVersion"));
        if (!ver || strncmp(ver, "1.", 2) != 0)
                return oci_spec_error(error, "ociVersion", "expected 1.x");
        if (!json_is_object(json_object_get(spec, "process")))
                return oci_spec_error(error, "process", "missing: moat oci runs a process");
        if (!json_is_object(json_object_get(spec, "linux")))
                return oci_spec_error(error, "linux", "missing");
        json_t *root = json_object_get(spec, "root");
        if ((r = oci_spec_check_keys(root, "root", root_keys, error)) < 0)
                return r;
        const char *rp = json_string_value(json_object_get(root, "path"));
        if (!rp || !*rp)
                return oci_spec_error(error, "root.path", "missing");
        if (rp[0] == '/')
                o->root = strdup(rp);
        else if (asprintf(&o->root, "%s/%s", bundle, rp) < 0)
                o->root = NULL;
        if (!o->root)
                return -ENOMEM;

        if ((r = choose_profile(&b, profile, escalated, annotation_error)) < 0)
                return r;
        if (!o->refused) {
                Profile *pr = b.pr;
                free(pr->fs.image);
                if (!(pr->fs.image = strdup(o->root)))
                        return -ENOMEM;
                pr->fs.root = ROOT_IMAGE;
                /* A container runs its process, never the bundle's own init (boot mode). */
                free(pr->os.init);
                pr->os.init = NULL;
                if (!json_is_true(json_object_get(root, "readonly")) &&
                    (r = note(&b, "root.readonly",
                              "false in the spec: the image root is read-only in moat, writable "
                              "places are tmpfs")) < 0)
                        return r;
                if (oci_spec_is_set(json_object_get(spec, "hooks")))
                        r = refuse(&b, "hooks", "hooks run programs on the host: refused");
                else if (oci_spec_is_set(json_object_get(spec, "domainname")))
                        r = refuse(&b, "domainname", "domainname is not supported");
                if (r < 0)
                        return r;
        }
        if (!o->refused && (r = drop_workdir_binds(&b)) < 0)
                return r;
        if (!o->refused && (r = overlay_process(&b, json_object_get(spec, "process"))) < 0)
                return r;
        if (!o->refused && (r = overlay_linux(&b, json_object_get(spec, "linux"))) < 0)
                return r;
        if (!o->refused && (r = overlay_mounts(&b)) < 0)
                return r;
        const char *hn = json_string_value(json_object_get(spec, "hostname"));
        /* as runc: a hostname needs a uts namespace of the container's own */
        if (!o->refused && hn && *hn && o->host_ns[OCI_NS_UTS] &&
            (r = refuse(&b, "hostname",
                        "the spec sets the hostname %s in the host's uts namespace, which moat "
                        "shares but never changes",
                        hn)) < 0)
                return r;
        if (!o->refused && hn && *hn && !o->ns_path[OCI_NS_UTS]) {
                free(b.pr->hostname);
                if (!(b.pr->hostname = strdup(hn)))
                        return -ENOMEM;
        }
        if (o->refused) {
                *ret = TAKE_PTR(o);
                return 0;
        }
        if ((r = plan_resolve(b.pr, policy, host, &o->plan)) < 0)
                return r;
        if ((r = check_tier(&b)) < 0)
                return r;
        if (!o->refused && (r = finish_plan(&b)) < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

uint64_t oci_cpu_weight_from_shares(uint64_t shares) {
        return 1 + ((MIN(MAX(shares, 2u), 262144u) - 2) * 9999) / 262142;
}

json_t *oci_plan_to_json(const OciPlan *o) {
        json_t *j = json_object(), *ns = json_object(), *notes = json_array(), *proc;
        char hex[65];

        if (!j || !ns || !notes) {
                json_decref(j);
                json_decref(ns);
                json_decref(notes);
                return NULL;
        }
        for (size_t i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", o->spec_digest[i]);
        for (int i = 0; i < _OCI_NS_MAX; i++)
                json_object_set_new(ns, oci_namespace_to_string(i),
                                    json_string(o->host_ns[i] ? "host" : o->ns_path[i] ?: "new"));
        for (size_t i = 0; i < o->n_notes; i++)
                json_array_append_new(notes, json_pack("{s:s, s:s}", "key", o->notes[i].key,
                                                       "sentence", o->notes[i].sentence));
        json_t *args = json_array(), *env = json_array();
        STRV_FOREACH (a, o->args)
                json_array_append_new(args, json_string(*a));
        STRV_FOREACH (e, o->env)
                json_array_append_new(env, json_string(*e));
        proc = json_pack("{s:o, s:o, s:o, s:I, s:I, s:b, s:o}", "args", args, "env", env, "cwd",
                         o->cwd ? json_string(o->cwd) : json_null(), "uid", (json_int_t) o->uid,
                         "gid", (json_int_t) o->gid, "terminal", o->terminal, "oom_score_adj",
                         o->has_oom_score_adj ? json_integer(o->oom_score_adj) : json_null());
        json_object_set_new(j, "moat_oci_plan", json_integer(1));
        json_object_set_new(j, "profile", json_string(o->profile_name ?: ""));
        json_object_set_new(j, "profile_from",
                            json_string(o->from_annotation ? "annotation" : "handler"));
        json_object_set_new(j, "refused", json_boolean(o->refused));
        json_object_set_new(j, "refusal", o->refusal ? json_string(o->refusal) : json_null());
        json_object_set_new(j, "spec_digest", json_string(hex));
        json_object_set_new(j, "root", json_string(o->root ?: ""));
        json_object_set_new(j, "process", proc ?: json_null());
        json_object_set_new(j, "namespaces", ns);
        json_object_set_new(j, "cgroups_path",
                            o->cgroups_path ? json_string(o->cgroups_path) : json_null());
        json_object_set_new(j, "cpu_weight", json_integer((json_int_t) o->cpu_weight));
        json_object_set_new(j, "spec_seccomp", o->seccomp ? json_incref(o->seccomp) : json_null());
        json_object_set_new(j, "notes", notes);
        json_object_set_new(j, "plan", o->plan ? plan_to_json(o->plan) : json_null());
        return j;
}

void oci_process_done(OciProcess *p) {
        strv_free(p->args);
        strv_free(p->env);
        free(p->cwd);
        *p = (OciProcess){};
}

int oci_process_check(json_t *proc, const OciPlan *o, OciProcess *ret, char **ret_refusal,
                      MoatError *e) {
        _cleanup_strv_free_ char **env = NULL;
        const char *k;
        json_t *set, *user;
        int r;

        *ret = (OciProcess){};
        *ret_refusal = NULL;
        if ((r = oci_spec_check_keys(proc, "process", process_keys, e)) < 0)
                return r;
        if ((r = oci_spec_strv(json_object_get(proc, "args"), "process.args", &ret->args, e)) < 0)
                goto fail;
        if (!ret->args || !ret->args[0]) {
                r = oci_spec_error(e, "process.args", "missing or empty");
                goto fail;
        }
        if ((r = oci_spec_strv(json_object_get(proc, "env"), "process.env", &env, e)) < 0)
                goto fail;
        const char *cwd = json_string_value(json_object_get(proc, "cwd"));
        if (!(ret->cwd = strdup(oci_path_is_normal(cwd) ? cwd : "/"))) {
                r = -ENOMEM;
                goto fail;
        }
        ret->terminal = json_is_true(json_object_get(proc, "terminal"));
        user = json_object_get(proc, "user");
        if (user && ((uint64_t) json_integer_value(json_object_get(user, "uid")) != o->uid ||
                     (uint64_t) json_integer_value(json_object_get(user, "gid")) != o->gid))
                r = asprintf(ret_refusal,
                             "process.user: the container maps one id (%u:%u); another user "
                             "cannot be mapped",
                             (unsigned) o->uid, (unsigned) o->gid);
        json_object_foreach(json_object_get(proc, "capabilities"), k, set) {
                size_t i;
                json_t *c;
                json_array_foreach(set, i, c) {
                        const char *name = json_string_value(c);
                        bool kept = false;
                        if (!name || *ret_refusal)
                                continue;
                        for (size_t n = 0; n < o->plan->sandbox.n_caps_keep; n++) {
                                const char *have =
                                        capability_to_name(o->plan->sandbox.caps_keep[n]);
                                if (have && strncmp(name, "CAP_", 4) == 0 &&
                                    strcasecmp(have, name + 4) == 0)
                                        kept = true;
                        }
                        if (!kept && !in_strv(default_caps, name))
                                r = asprintf(ret_refusal,
                                             "the exec process asks for %s; profile %s does not "
                                             "list it (capabilities)",
                                             name, o->profile_name);
                }
        }
        const char *aa = json_string_value(json_object_get(proc, "apparmorProfile"));
        if (!*ret_refusal && aa && *aa &&
            (!o->plan->sandbox.apparmor_profile || strcmp(aa, o->plan->sandbox.apparmor_profile)))
                r = asprintf(ret_refusal,
                             "the exec process asks for the AppArmor profile %s "
                             "(mac.apparmor)",
                             aa);
        if (r < 0) {
                *ret_refusal = NULL;
                r = -ENOMEM;
                goto fail;
        }
        STRV_FOREACH (s, o->plan->env_set)
                if (!strv_contains(o->env, *s) && strv_extend(&env, *s) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
        ret->env = TAKE_PTR(env);
        return 0;
fail:
        oci_process_done(ret);
        return r;
}
