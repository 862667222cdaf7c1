/* SPDX-License-Identifier: MIT */
/* PURE. config.json: parsing and validation of the keys moat understands, key by key. Every
 * key of the runtime spec either has a rule here or is refused by name; oci-plan.c applies
 * what this file read. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "basic/macros.h"
#include "oci/oci-internal.h"

int oci_spec_parse(const char *buf, size_t len, const char *filename, json_t **ret,
                   MoatError *error) {
        json_error_t je;
        json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);

        if (!j)
                return moat_error_set(error, filename, (unsigned) MAX(je.line, 0),
                                      (unsigned) MAX(je.column, 0), "not valid JSON: %s", je.text);
        if (!json_is_object(j)) {
                json_decref(j);
                return moat_error_set(error, filename, 0, 0, "the spec is not a JSON object");
        }
        *ret = j;
        return 0;
}

const char *oci_spec_annotation(json_t *spec, const char *key) {
        json_t *a = json_object_get(spec, "annotations");
        return json_string_value(json_object_get(a, key));
}

int oci_spec_error(MoatError *e, const char *key, const char *fmt, ...) {
        char msg[400];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return moat_error_set(e, "config.json", 0, 0, "%s: %s", key, msg);
}

/* Every key of obj must be in allowed (NULL-terminated). */
int oci_spec_check_keys(json_t *obj, const char *where, const char *const *allowed, MoatError *e) {
        const char *k;
        json_t *v;

        if (!json_is_object(obj))
                return oci_spec_error(e, where, "expected an object");
        json_object_foreach(obj, k, v) {
                bool ok = false;
                for (size_t i = 0; allowed[i]; i++)
                        if (strcmp(allowed[i], k) == 0)
                                ok = true;
                if (!ok)
                        return oci_spec_error(e, where,
                                              "unknown key '%s': moat refuses what it does not "
                                              "implement rather than skip it",
                                              k);
        }
        return 0;
}

/* A non-empty value: set and not null, false, 0, "", [] or {}. */
bool oci_spec_is_set(json_t *v) {
        if (!v || json_is_null(v) || json_is_false(v))
                return false;
        if (json_is_integer(v))
                return json_integer_value(v) != 0;
        if (json_is_string(v))
                return json_string_length(v) > 0;
        if (json_is_array(v))
                return json_array_size(v) > 0;
        if (json_is_object(v))
                return json_object_size(v) > 0;
        return true;
}

int oci_spec_strv(json_t *v, const char *where, char ***ret, MoatError *e) {
        _cleanup_strv_free_ char **l = NULL;
        size_t i;
        json_t *x;

        if (!v) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_array(v))
                return oci_spec_error(e, where, "expected an array of strings");
        json_array_foreach(v, i, x) {
                if (!json_is_string(x))
                        return oci_spec_error(e, where, "element %zu is not a string", i);
                if (strv_extend(&l, json_string_value(x)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int oci_spec_u64(json_t *v, const char *where, uint64_t *ret, MoatError *e) {
        if (!v || json_is_null(v)) {
                *ret = 0;
                return 0;
        }
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return oci_spec_error(e, where, "expected a non-negative integer");
        *ret = (uint64_t) json_integer_value(v);
        return 0;
}

/* Absolute, no "." or ".." component, no "//": what moat compares against allowed prefixes. */
bool oci_path_is_normal(const char *p) {
        if (!p || p[0] != '/')
                return false;
        for (const char *c = p; *c;) {
                const char *n = strchrnul(c + 1, '/');
                size_t len = (size_t) (n - c - 1);
                if (c[0] == '/' && ((len == 0 && *n) || (len == 1 && c[1] == '.') ||
                                    (len == 2 && c[1] == '.' && c[2] == '.')))
                        return false;
                c = n;
        }
        return true;
}

static const char *const seccomp_actions[] = {
        "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO", "SCMP_ACT_ALLOW",        "SCMP_ACT_LOG",         NULL,
};

static const char *const seccomp_ops[] = {
        "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",        "SCMP_CMP_EQ",
        "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ", NULL,
};

static const char *const seccomp_arches[] = {
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
        NULL,
};

static bool in_list(const char *const *l, const char *s) {
        for (size_t i = 0; s && l[i]; i++)
                if (strcmp(l[i], s) == 0)
                        return true;
        return false;
}

/* linux.seccomp: validated here, compiled by the executor with libseccomp on top of the
 * profile's filter. SCMP_ACT_NOTIFY and a listenerPath hand the filter's decisions to another
 * process: refused. Architectures other than the three x86 ABIs are refused because moat's own
 * filter kills every other ABI anyway, and a spec naming them was not written for this host. */
int oci_spec_check_seccomp(json_t *sc, MoatError *e) {
        static const char *const keys[] = { "defaultAction", "defaultErrnoRet",
                                            "architectures", "flags",
                                            "listenerPath",  "listenerMetadata",
                                            "syscalls",      NULL };
        static const char *const rule_keys[] = { "names", "action", "errnoRet", "args", NULL };
        static const char *const arg_keys[] = { "index", "value", "valueTwo", "op", NULL };
        size_t i, j;
        json_t *x, *a;
        int r;

        if ((r = oci_spec_check_keys(sc, "linux.seccomp", keys, e)) < 0)
                return r;
        if (!in_list(seccomp_actions, json_string_value(json_object_get(sc, "defaultAction"))))
                return oci_spec_error(e, "linux.seccomp.defaultAction",
                                      "missing or not one of moat's actions (SCMP_ACT_NOTIFY is "
                                      "refused)");
        if (oci_spec_is_set(json_object_get(sc, "listenerPath")))
                return oci_spec_error(e, "linux.seccomp.listenerPath",
                                      "a seccomp agent outside the container is refused");
        if (oci_spec_is_set(json_object_get(sc, "flags")))
                return oci_spec_error(e, "linux.seccomp.flags", "filter flags are not supported");
        json_array_foreach(json_object_get(sc, "architectures"), i, x) if (
                !in_list(seccomp_arches,
                         json_string_value(
                                 x))) return oci_spec_error(e, "linux.seccomp.architectures",
                                                            "'%s' is not an x86 ABI of this host",
                                                            json_string_value(x) ?: "?");
        json_array_foreach(json_object_get(sc, "syscalls"), i, x) {
                char where[64];
                snprintf(where, sizeof(where), "linux.seccomp.syscalls[%zu]", i);
                if ((r = oci_spec_check_keys(x, where, rule_keys, e)) < 0)
                        return r;
                if (!in_list(seccomp_actions, json_string_value(json_object_get(x, "action"))))
                        return oci_spec_error(e, where, "action missing or not supported");
                if (!json_is_array(json_object_get(x, "names")) ||
                    json_array_size(json_object_get(x, "names")) == 0)
                        return oci_spec_error(e, where, "names: expected a non-empty array");
                json_array_foreach(
                        json_object_get(x, "names"), j,
                        a) if (!json_is_string(a)) return oci_spec_error(e, where,
                                                                         "names: not a string");
                json_array_foreach(json_object_get(x, "args"), j, a) {
                        if ((r = oci_spec_check_keys(a, where, arg_keys, e)) < 0)
                                return r;
                        json_t *idx = json_object_get(a, "index");
                        if (!in_list(seccomp_ops, json_string_value(json_object_get(a, "op"))))
                                return oci_spec_error(e, where, "args[%zu]: bad op", j);
                        /* a system call has six arguments: 0-5 */
                        if (!json_is_integer(idx) || json_integer_value(idx) < 0 ||
                            json_integer_value(idx) > 5)
                                return oci_spec_error(e, where,
                                                      "args[%zu]: index is not one of 0-5", j);
                }
        }
        return 0;
}

/* containerd's and runc's default device rules: deny all, then the nodes every container has.
 * moat's /dev (PLAN_MOUNT_DEV) holds exactly these (null zero full random urandom tty, ptmx and
 * pts) and no device can be created inside (no CAP_MKNOD in the initial user namespace), so the
 * rules are held by the mounts; a rule that allows any other device is refused. */
static bool device_rule_is_default(json_t *d) {
        static const struct {
                int major, minor;
        } known[] = { { 1, 3 }, { 1, 5 }, { 1, 7 }, { 1, 8 },   { 1, 9 },
                      { 5, 0 }, { 5, 1 }, { 5, 2 }, { 136, -1 } };
        json_t *maj = json_object_get(d, "major"), *min = json_object_get(d, "minor");
        const char *type = json_string_value(json_object_get(d, "type"));

        if (!json_is_true(json_object_get(d, "allow")))
                return true; /* a deny rule never widens anything */
        if (!type || strcmp(type, "c") != 0 || !json_is_integer(maj))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                if (known[i].major == json_integer_value(maj) &&
                    (known[i].minor < 0 ? !json_is_integer(min)
                                        : json_integer_value(min) == known[i].minor))
                        return true;
        return false;
}

int oci_spec_check_devices(json_t *devs, char *bad, size_t bad_size) {
        size_t i;
        json_t *d;

        json_array_foreach(devs, i, d) if (!device_rule_is_default(d)) {
                snprintf(bad, bad_size, "linux.resources.devices[%zu]", i);
                return -EPERM;
        }
        return 0;
}

static const struct {
        const char *name;
        int resource;
} rlimit_names[] = {
        { "RLIMIT_AS", RLIMIT_AS },
        { "RLIMIT_CORE", RLIMIT_CORE },
        { "RLIMIT_CPU", RLIMIT_CPU },
        { "RLIMIT_DATA", RLIMIT_DATA },
        { "RLIMIT_FSIZE", RLIMIT_FSIZE },
        { "RLIMIT_LOCKS", RLIMIT_LOCKS },
        { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
        { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
        { "RLIMIT_NICE", RLIMIT_NICE },
        { "RLIMIT_NOFILE", RLIMIT_NOFILE },
        { "RLIMIT_NPROC", RLIMIT_NPROC },
        { "RLIMIT_RSS", RLIMIT_RSS },
        { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
        { "RLIMIT_RTTIME", RLIMIT_RTTIME },
        { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
        { "RLIMIT_STACK", RLIMIT_STACK },
};

int oci_rlimit_from_name(const char *name) {
        for (size_t i = 0; name && i < ELEMENTSOF(rlimit_names); i++)
                if (strcmp(rlimit_names[i].name, name) == 0)
                        return rlimit_names[i].resource;
        return -EINVAL;
}

/* Each namespace's name in config.json and its file's under /proc/PID/ns. */
static const struct {
        const char *oci, *proc;
} ns_names[_OCI_NS_MAX] = {
        [OCI_NS_PID] = { "pid", "pid" },          [OCI_NS_NETWORK] = { "network", "net" },
        [OCI_NS_IPC] = { "ipc", "ipc" },          [OCI_NS_UTS] = { "uts", "uts" },
        [OCI_NS_MOUNT] = { "mount", "mnt" },      [OCI_NS_USER] = { "user", "user" },
        [OCI_NS_CGROUP] = { "cgroup", "cgroup" }, [OCI_NS_TIME] = { "time", "time" },
};

const char *oci_namespace_to_string(OciNamespace n) {
        return n >= 0 && n < _OCI_NS_MAX ? ns_names[n].oci : NULL;
}

const char *oci_namespace_proc_name(OciNamespace n) {
        return n >= 0 && n < _OCI_NS_MAX ? ns_names[n].proc : NULL;
}

int oci_namespace_from_string(const char *s) {
        for (int i = 0; s && i < _OCI_NS_MAX; i++)
                if (strcmp(oci_namespace_to_string(i), s) == 0)
                        return i;
        return -EINVAL;
}
