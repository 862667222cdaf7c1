/* SPDX-License-Identifier: MIT */
/* PURE. Profile -> JSON, and the digest the audit record carries. The JSON mirrors the YAML
 * language key by key, with normalised units (bytes, thousandths of a cpu, milliseconds), so
 * that two spellings of one profile ("1GiB" / "1024MiB") have one digest. */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "basic/sha256.h"
#include "basic/strv.h"
#include "profile-internal.h"
#include "profile/egress.h"

/* json_decrefp() comes with jansson >= 2.9. */
#define _cleanup_json_ _cleanup_(json_decrefp)

static json_t *strv_to_json(char *const *l) {
        json_t *a = json_array();

        STRV_FOREACH (s, l)
                if (!a || json_array_append_new(a, json_string(*s)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

static json_t *str_or_null(const char *s) {
        return s ? json_string(s) : json_null();
}

/* 0 means "not set" in Profile; null says so in JSON. */
static json_t *uint_or_null(uint64_t v) {
        return v ? json_integer((json_int_t) v) : json_null();
}

static json_t *bind_to_json(const ProfileBind *b) {
        return json_pack("{s:s, s:s, s:s, s:b, s:b}", "source", b->source, "target", b->target,
                         "mode", bind_mode_to_string(b->mode), "optional", b->optional, "exec",
                         b->exec);
}

static json_t *filesystem_to_json(const Profile *p) {
        json_t *binds = json_array(), *tmpfs = json_array();

        for (size_t i = 0; binds && i < p->fs.n_binds; i++)
                if (json_array_append_new(binds, bind_to_json(&p->fs.binds[i])) < 0)
                        binds = (json_decref(binds), NULL);
        for (size_t i = 0; tmpfs && i < p->fs.n_tmpfs; i++)
                if (json_array_append_new(tmpfs,
                                          json_pack("{s:s, s:o}", "target", p->fs.tmpfs[i].target,
                                                    "size", uint_or_null(p->fs.tmpfs[i].size))) < 0)
                        tmpfs = (json_decref(tmpfs), NULL);
        return json_pack("{s:o, s:o*, s:o*, s:o*, s:b}", "root",
                         p->fs.root == ROOT_IMAGE ? json_pack("{s:s}", "image", p->fs.image)
                                                  : json_string("host-readonly"),
                         "bind", binds, "tmpfs", tmpfs, "mask", strv_to_json(p->fs.masked), "sys",
                         p->fs.sys);
}

static json_t *env_to_json(const Profile *p) {
        json_t *set = json_object();

        STRV_FOREACH (kv, p->env.set) {
                _cleanup_free_ char *k = strndup(*kv, strcspn(*kv, "="));
                if (!set || !k || json_object_set_new(set, k, json_string(*kv + strlen(k) + 1)) < 0)
                        set = (json_decref(set), NULL);
        }
        return json_pack("{s:b, s:o*, s:o*}", "clear", p->env.clear, "allow",
                         strv_to_json(p->env.allow), "set", set);
}

static json_t *resources_to_json(const Profile *p) {
        /* cpu_time_ms, output_bytes and disk only when set: the digest of a profile written
         * before the key existed stays what it was (the digest is over this JSON). */
        return json_pack(
                "{s:o, s:o, s:o, s:o, s:o*, s:o*, s:o, s:o*, s:o, s:s}", "memory",
                uint_or_null(p->resources.memory), "cpus_milli",
                uint_or_null(p->resources.cpus_milli), "pids", uint_or_null(p->resources.pids),
                "timeout_ms", uint_or_null(p->resources.timeout_ms), "cpu_time_ms",
                p->resources.cpu_time_ms ? json_integer((json_int_t) p->resources.cpu_time_ms)
                                         : NULL,
                "output_bytes",
                p->resources.output ? json_integer((json_int_t) p->resources.output) : NULL,
                "tmpfs_total", uint_or_null(p->resources.tmpfs_total), "disk",
                p->resources.disk ? json_integer((json_int_t) p->resources.disk) : NULL, "nofile",
                uint_or_null(p->resources.nofile), "enforce",
                enforce_to_string(p->resources.enforce));
}

static json_t *syscalls_to_json(const Profile *p) {
        return json_pack("{s:s, s:o*, s:o*}", "base", p->syscalls.base, "allow",
                         strv_to_json(p->syscalls.allow), "deny", strv_to_json(p->syscalls.deny));
}

static json_t *mac_to_json(const Profile *p) {
        return json_pack("{s:s, s:o, s:o, s:s}", "landlock",
                         landlock_mode_to_string(p->mac.landlock), "apparmor",
                         str_or_null(p->mac.apparmor), "selinux", str_or_null(p->mac.selinux),
                         "enforce", enforce_to_string(p->mac.enforce));
}

static json_t *vm_to_json(const Profile *p) {
        return json_pack("{s:o, s:o, s:b}", "kernel", str_or_null(p->vm.kernel), "vcpus",
                         uint_or_null(p->vm.vcpus), "guest_root", p->vm.guest_root);
}

static json_t *sections_to_json(const Profile *p) {
        return json_pack(
                "{s:o*, s:o*, s:o*, s:o*, s:o*, s:{s:o*, s:o}, s:{s:b, s:s?}, s:o*, s:s,"
                " s:o, s:o, s:o*, s:o*}",
                "resources", resources_to_json(p), "env", env_to_json(p), "syscalls",
                syscalls_to_json(p), "capabilities", strv_to_json(p->capabilities), "mac",
                mac_to_json(p), "kernel", "needs", strv_to_json(p->kernel.needs), "min_version",
                str_or_null(p->kernel.min_version), "os", "full_os", p->os.full_os, "init",
                p->os.init, "devices", strv_to_json(p->devices), "hostname", p->hostname, "uid",
                p->uid_set ? json_integer(p->uid) : json_null(), "gid",
                p->uid_set ? json_integer(p->gid) : json_null(), "vm", vm_to_json(p), "identity",
                /* Only when set: the digests of profiles without it stay what they were. */
                p->identity.machine_id ? json_pack("{s:s}", "machine_id", p->identity.machine_id)
                                       : NULL);
}

/* "none", "loopback", or {"outbound": {"via": "proxy", "allow": [normalised rules]}}. */
static json_t *network_to_json(const Profile *p) {
        _cleanup_json_ json_t *allow = NULL;

        if (p->network != NETWORK_OUTBOUND)
                return json_string(network_mode_to_string(p->network));
        allow = json_array();
        if (!allow)
                return NULL;
        for (size_t i = 0; i < p->outbound.n_allow; i++) {
                char buf[EGRESS_RULE_FORMAT_MAX];
                if (json_array_append_new(allow,
                                          json_string(egress_rule_format(&p->outbound.allow[i], buf,
                                                                         sizeof(buf)))) < 0)
                        return NULL;
        }
        return json_pack("{s:{s:s, s:O}}", "outbound", "via",
                         p->outbound.via == OUTBOUND_VIA_TRANSPARENT ? "transparent" : "proxy",
                         "allow", allow);
}

/* Everything that decides what a run does; not where it was read from. */
static json_t *profile_content_to_json(const Profile *p) {
        _cleanup_json_ json_t *o = NULL, *sections = NULL;

        o = json_pack("{s:i, s:s, s:o, s:s, s:s, s:s, s:o*, s:o}", "moat", 1, "name", p->name,
                      "description", str_or_null(p->description), "trust",
                      trust_to_string(p->trust), "isolation", tier_to_string(p->isolation),
                      "max_tier", tier_to_string(p->max_tier), "filesystem", filesystem_to_json(p),
                      "network", network_to_json(p));
        sections = sections_to_json(p);
        if (!o || !sections || json_object_update(o, sections) < 0)
                return NULL;
        /* Only when set: the digests of profiles without it stay what they were. */
        if (p->host_namespaces && p->host_namespaces[0] &&
            json_object_set_new(o, "host_namespaces", strv_to_json(p->host_namespaces)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

int profile_compute_digest(Profile *p) {
        _cleanup_json_ json_t *o = profile_content_to_json(p);
        _cleanup_free_ char *s = NULL;

        if (!o)
                return -ENOMEM;
        s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        if (!s)
                return -ENOMEM;
        sha256_buffer(s, strlen(s), p->digest);
        return 0;
}

struct json_t *profile_to_json(const Profile *p) {
        _cleanup_json_ json_t *o = profile_content_to_json(p);
        char hex[sizeof(p->digest) * 2 + 1];

        if (!o)
                return NULL;
        for (size_t i = 0; i < sizeof(p->digest); i++)
                snprintf(hex + 2 * i, 3, "%02x", p->digest[i]);
        if (json_object_set_new(o, "path", str_or_null(p->path)) < 0 ||
            json_object_set_new(o, "files", strv_to_json(p->files)) < 0 ||
            json_object_set_new(o, "digest", json_string(hex)) < 0)
                return NULL;
        return TAKE_PTR(o);
}
