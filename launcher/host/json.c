/* SPDX-License-Identifier: MIT */
/* Host facts as JSON: what `moat host --json` prints and what `--host-facts FILE` loads, so
 * that every planning decision can be reproduced and tested without the host.
 *
 * Format (stable; one flat object, keys are the HostFacts field names):
 *
 *   key                        type               absent from a file means
 *   source                     string             ignored on load: facts loaded from a file
 *                                                 record that file's name as their source
 *   kernel_release             string (<65)       ""
 *   kernel_major, kernel_minor integer >= 0       0 (older than any kernel rule asks for)
 *   arch                       string (<32)       ""
 *   merged_usr                 boolean            false
 *   root_symlinks, root_dirs   [string] or null   null ("bin=usr/bin" / "lib32")
 *   uid, gid                   integer            65534 (an unprivileged caller)
 *   user                       string (<64)       "nobody"
 *   is_root                    boolean            false; true requires uid 0
 *   max_user_namespaces        integer >= -1      -1 (absent)
 *   unprivileged_userns_clone  -1, 0 or 1         -1 (absent)
 *   apparmor_restrict_userns   -1, 0 or 1         -1 (absent)
 *   apparmor_moat_attached     boolean            false (moat is not under its profile "moat")
 *   userns_usable, time_ns     boolean            false
 *   userns_reason              string or null     null
 *   seccomp_filter             boolean            false
 *   seccomp_user_notif         boolean            false
 *   seccomp_actions            [string] or null   null
 *   landlock_abi               integer >= 0       0 (no Landlock)
 *   lsms                       [string] or null   null (active LSMs unknown)
 *   apparmor_enabled           boolean            false
 *   apparmor_moat_loaded       boolean            false
 *   apparmor_moat_profiles     [string] or null   null (unknown: only moat-default is judged,
 *                                                 by apparmor_moat_loaded)
 *   selinux_mode               -1, 0 or 1         -1 (disabled/absent)
 *   selinux_moat_loaded        boolean            false
 *   cgroup_layout              "none" "v1" "hybrid" "v2"   "none"
 *   cgroup_v2_writable         boolean            false
 *   cgroup_v2_controllers      [string] or null   null
 *   cgroup_v1_writable         boolean            false
 *   cgroup_v1_controllers      [string] or null   null
 *   kvm_usable, qemu_present, libvirt_present     boolean   false
 *   kvm_state                  "absent" "no-access" "unsupported" "failed" "unproven" "proven"
 *                                                 "proven" if kvm_usable, else "absent"; when
 *                                                 given, kvm_usable must be true exactly when
 *                                                 it is "proven"
 *   kvm_account                string (<64)       "" (QEMU's account: "moat-vm" for root)
 *   kvm_reason                 string or null     null
 *   qemu_path                  string (<256)      ""
 *   guest_kernel, vm_reason    string or null     null
 *   vm_boot_ms                 integer >= 0       0 (unknown)
 *   lxc_present                boolean            false
 *   tun_usable, slirp4netns_present               boolean   false
 *   slirp4netns_path           string (<256)      ""
 *   nft_present                boolean            false
 *   nft_path                   string (<256)      ""
 *   lxc_version                string (<32)       ""
 *   newuidmap_present          boolean            false
 *   subuid_range               boolean            false
 *   project_quota              boolean            false
 *   project_quota_reason       string or null     null
 *
 * Every default is the conservative one: a fixture that omits a fact describes a host that
 * cannot enforce it. Loading is strict: an unknown key, a duplicate key, a wrong type, an
 * out-of-range number or an over-long string is an error; syntax errors carry line:column,
 * semantic ones name the key. A list is null when unknown and [] when known to be empty;
 * both survive a round trip. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/macros.h"
#include "basic/strv.h"
#include "host/host.h"

#define HOST_FACTS_FILE_MAX (1024 * 1024)

typedef enum FieldType {
        FIELD_STRING,         /* char[size] */
        FIELD_STRING_OR_NULL, /* char * */
        FIELD_STRV,           /* char ** */
        FIELD_BOOL,
        FIELD_INT,    /* int, within [min, max] */
        FIELD_INT64,  /* int64_t, within [min, max] */
        FIELD_UINT32, /* unsigned, uid_t, gid_t, uint32_t, within [min, max] */
        FIELD_CGROUP_LAYOUT,
        FIELD_KVM_STATE,
} FieldType;

typedef struct Field {
        const char *name;
        FieldType type;
        size_t offset;
        size_t size;
        int64_t min, max;
} Field;

_Static_assert(sizeof(uid_t) == 4 && sizeof(gid_t) == 4 && sizeof(unsigned) == 4,
               "FIELD_UINT32 stores 32-bit unsigned values");

#define F(field, type) \
        { #field, type, offsetof(HostFacts, field), sizeof(((HostFacts *) 0)->field), 0, 0 }
#define FR(field, type, lo, hi) \
        { #field, type, offsetof(HostFacts, field), sizeof(((HostFacts *) 0)->field), lo, hi }

static const Field fields[] = {
        F(source, FIELD_STRING),
        F(kernel_release, FIELD_STRING),
        FR(kernel_major, FIELD_UINT32, 0, UINT32_MAX),
        FR(kernel_minor, FIELD_UINT32, 0, UINT32_MAX),
        F(arch, FIELD_STRING),
        F(merged_usr, FIELD_BOOL),
        F(root_symlinks, FIELD_STRV),
        F(root_dirs, FIELD_STRV),
        /* (uid_t) -1 is "no uid" to the kernel, never a caller */
        FR(uid, FIELD_UINT32, 0, UINT32_MAX - 1),
        FR(gid, FIELD_UINT32, 0, UINT32_MAX - 1),
        F(user, FIELD_STRING),
        F(is_root, FIELD_BOOL),
        FR(max_user_namespaces, FIELD_INT64, -1, INT64_MAX),
        FR(unprivileged_userns_clone, FIELD_INT, -1, 1),
        FR(apparmor_restrict_userns, FIELD_INT, -1, 1),
        F(apparmor_moat_attached, FIELD_BOOL),
        F(userns_usable, FIELD_BOOL),
        F(time_ns, FIELD_BOOL),
        F(userns_reason, FIELD_STRING_OR_NULL),
        F(seccomp_filter, FIELD_BOOL),
        F(seccomp_user_notif, FIELD_BOOL),
        F(seccomp_actions, FIELD_STRV),
        FR(landlock_abi, FIELD_INT, 0, INT_MAX),
        F(lsms, FIELD_STRV),
        F(apparmor_enabled, FIELD_BOOL),
        F(apparmor_moat_loaded, FIELD_BOOL),
        F(apparmor_moat_profiles, FIELD_STRV),
        FR(selinux_mode, FIELD_INT, -1, 1),
        F(selinux_moat_loaded, FIELD_BOOL),
        F(cgroup_layout, FIELD_CGROUP_LAYOUT),
        F(cgroup_v2_writable, FIELD_BOOL),
        F(cgroup_v2_controllers, FIELD_STRV),
        F(cgroup_v1_writable, FIELD_BOOL),
        F(cgroup_v1_controllers, FIELD_STRV),
        F(kvm_usable, FIELD_BOOL),
        F(kvm_state, FIELD_KVM_STATE),
        F(kvm_account, FIELD_STRING),
        F(kvm_reason, FIELD_STRING_OR_NULL),
        F(qemu_present, FIELD_BOOL),
        F(qemu_path, FIELD_STRING),
        F(libvirt_present, FIELD_BOOL),
        F(guest_kernel, FIELD_STRING_OR_NULL),
        F(vm_reason, FIELD_STRING_OR_NULL),
        FR(vm_boot_ms, FIELD_UINT32, 0, UINT32_MAX),
        F(lxc_present, FIELD_BOOL),
        F(tun_usable, FIELD_BOOL),
        F(slirp4netns_present, FIELD_BOOL),
        F(slirp4netns_path, FIELD_STRING),
        F(nft_present, FIELD_BOOL),
        F(nft_path, FIELD_STRING),
        F(lxc_version, FIELD_STRING),
        F(newuidmap_present, FIELD_BOOL),
        F(subuid_range, FIELD_BOOL),
        F(project_quota, FIELD_BOOL),
        F(project_quota_reason, FIELD_STRING_OR_NULL),
};

#define FIELD_PTR(h, f, type) ((type *) ((char *) (h) + (f)->offset))
#define FIELD_CPTR(h, f, type) ((type const *) ((const char *) (h) + (f)->offset))

static json_t *strv_to_json(char *const *l) {
        json_t *a;

        if (!l)
                return json_null();
        a = json_array();
        STRV_FOREACH (s, l)
                if (!a || json_array_append_new(a, json_string(*s)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

static json_t *field_to_json(const HostFacts *h, const Field *f) {
        switch (f->type) {
        case FIELD_STRING:
                return json_string(FIELD_CPTR(h, f, char));
        case FIELD_STRING_OR_NULL: {
                const char *s = *FIELD_CPTR(h, f, char *);
                return s ? json_string(s) : json_null();
        }
        case FIELD_STRV:
                return strv_to_json(*FIELD_CPTR(h, f, char **));
        case FIELD_BOOL:
                return json_boolean(*FIELD_CPTR(h, f, bool));
        case FIELD_INT:
                return json_integer(*FIELD_CPTR(h, f, int));
        case FIELD_INT64:
                return json_integer(*FIELD_CPTR(h, f, int64_t));
        case FIELD_UINT32:
                return json_integer(*FIELD_CPTR(h, f, uint32_t));
        case FIELD_CGROUP_LAYOUT: {
                const char *s = cgroup_layout_to_string(*FIELD_CPTR(h, f, CgroupLayout));
                return s ? json_string(s) : NULL;
        }
        case FIELD_KVM_STATE: {
                const char *s = kvm_state_to_string(*FIELD_CPTR(h, f, KvmState));
                return s ? json_string(s) : NULL;
        }
        }
        return NULL;
}

char *host_facts_to_json(const HostFacts *h) {
        json_t *o;
        char *text;

        /* Recorded facts stand for a host: a partial probe's absent vm and system facts would
         * read as "not installed". */
        if (h->partial) {
                errno = EINVAL;
                return NULL;
        }
        o = json_object();
        if (!o) {
                errno = ENOMEM;
                return NULL;
        }
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                json_t *v = field_to_json(h, &fields[i]);
                if (!v || json_object_set_new(o, fields[i].name, v) < 0) {
                        /* jansson refuses text that is not UTF-8 (a path from the
                         * environment, say); anything else is memory. */
                        bool is_text = fields[i].type == FIELD_STRING ||
                                       fields[i].type == FIELD_STRING_OR_NULL ||
                                       fields[i].type == FIELD_STRV;
                        json_decref(o);
                        errno = !v && is_text ? EILSEQ : ENOMEM;
                        return NULL;
                }
        }
        text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!text)
                errno = ENOMEM;
        return text;
}

static const char *json_type_name(const json_t *v) {
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "object";
        case JSON_ARRAY:
                return "array";
        case JSON_STRING:
                return "string";
        case JSON_INTEGER:
                return "integer";
        case JSON_REAL:
                return "real number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "boolean";
        case JSON_NULL:
                return "null";
        }
        return "unknown";
}

/* A JSON string usable as a C string: embedded NULs would silently truncate it. */
static const char *json_c_string(const json_t *v) {
        const char *s = json_string_value(v);
        return s && strlen(s) == json_string_length(v) ? s : NULL;
}

static int type_error(MoatError *e, const char *file, const Field *f, const json_t *v,
                      const char *want) {
        return moat_error_set(e, file, 0, 0, "field \"%s\": expected %s, got %s", f->name, want,
                              json_type_name(v));
}

static int strv_from_json(const json_t *v, const char *file, const Field *f, char ***ret,
                          MoatError *e) {
        _cleanup_strv_free_ char **l = NULL;
        size_t i;
        json_t *item;

        if (json_is_null(v)) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_array(v))
                return type_error(e, file, f, v, "array of strings or null");
        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        json_array_foreach(v, i, item) {
                const char *s = json_c_string(item);
                if (!s)
                        return moat_error_set(
                                e, file, 0, 0,
                                "field \"%s\"[%zu]: expected string without NUL, got %s", f->name,
                                i, json_type_name(item));
                if (strv_extend(&l, s) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int integer_from_json(HostFacts *h, const json_t *v, const char *file, const Field *f,
                             MoatError *e) {
        json_int_t n;

        if (!json_is_integer(v))
                return type_error(e, file, f, v, "integer");
        n = json_integer_value(v);
        if (n < f->min || n > f->max)
                return moat_error_set(e, file, 0, 0,
                                      "field \"%s\": %lld is out of range [%lld, %lld]", f->name,
                                      (long long) n, (long long) f->min, (long long) f->max);
        if (f->type == FIELD_INT)
                *FIELD_PTR(h, f, int) = (int) n;
        else if (f->type == FIELD_INT64)
                *FIELD_PTR(h, f, int64_t) = n;
        else
                *FIELD_PTR(h, f, uint32_t) = (uint32_t) n;
        return 0;
}

static int string_from_json(HostFacts *h, const json_t *v, const char *file, const Field *f,
                            MoatError *e) {
        const char *s;

        if (f->type == FIELD_STRING_OR_NULL && json_is_null(v))
                return 0;
        s = json_c_string(v);
        if (!s)
                return type_error(e, file, f, v,
                                  f->type == FIELD_STRING ? "string" : "string or null");
        if (f->type == FIELD_STRING_OR_NULL) {
                char **p = FIELD_PTR(h, f, char *);
                *p = strdup(s);
                return *p ? 0 : -ENOMEM;
        }
        if (strlen(s) >= f->size)
                return moat_error_set(e, file, 0, 0, "field \"%s\": longer than %zu bytes", f->name,
                                      f->size - 1);
        memcpy(FIELD_PTR(h, f, char), s, strlen(s) + 1);
        return 0;
}

static int layout_from_json(HostFacts *h, const json_t *v, const char *file, const Field *f,
                            MoatError *e) {
        const char *s = json_c_string(v);

        if (!s)
                return type_error(e, file, f, v, "string");
        for (int l = 0; l < _CGROUP_LAYOUT_MAX; l++)
                if (strcmp(s, cgroup_layout_to_string(l)) == 0) {
                        *FIELD_PTR(h, f, CgroupLayout) = l;
                        return 0;
                }
        return moat_error_set(
                e, file, 0, 0,
                "field \"%s\": \"%s\" is not one of \"none\", \"v1\", \"hybrid\", \"v2\"", f->name,
                s);
}

static int kvm_state_from_json(HostFacts *h, const json_t *v, const char *file, const Field *f,
                               MoatError *e) {
        const char *s = json_c_string(v);
        KvmState k;

        if (!s)
                return type_error(e, file, f, v, "string");
        k = kvm_state_from_string(s);
        if (k == _KVM_STATE_MAX)
                return moat_error_set(e, file, 0, 0,
                                      "field \"%s\": \"%s\" is not one of \"absent\", "
                                      "\"no-access\", \"unsupported\", \"failed\", \"unproven\", "
                                      "\"proven\"",
                                      f->name, s);
        *FIELD_PTR(h, f, KvmState) = k;
        return 0;
}

static int field_from_json(HostFacts *h, const json_t *v, const char *file, const Field *f,
                           MoatError *e) {
        switch (f->type) {
        case FIELD_STRING:
        case FIELD_STRING_OR_NULL:
                return string_from_json(h, v, file, f, e);
        case FIELD_STRV:
                return strv_from_json(v, file, f, FIELD_PTR(h, f, char **), e);
        case FIELD_BOOL:
                if (!json_is_boolean(v))
                        return type_error(e, file, f, v, "boolean");
                *FIELD_PTR(h, f, bool) = json_is_true(v);
                return 0;
        case FIELD_INT:
        case FIELD_INT64:
        case FIELD_UINT32:
                return integer_from_json(h, v, file, f, e);
        case FIELD_CGROUP_LAYOUT:
                return layout_from_json(h, v, file, f, e);
        case FIELD_KVM_STATE:
                return kvm_state_from_json(h, v, file, f, e);
        }
        return -EINVAL;
}

static const Field *field_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (strcmp(fields[i].name, name) == 0)
                        return &fields[i];
        return NULL;
}

static void host_facts_set_defaults(HostFacts *h) {
        *h = (HostFacts){
                .uid = 65534,
                .gid = 65534,
                .max_user_namespaces = -1,
                .unprivileged_userns_clone = -1,
                .apparmor_restrict_userns = -1,
                .selinux_mode = -1,
                .cgroup_layout = CGROUP_LAYOUT_NONE,
        };
        snprintf(h->user, sizeof(h->user), "nobody");
}

static int host_facts_from_object(json_t *o, const char *file, HostFacts *h, MoatError *e) {
        const char *key;
        json_t *v;
        int r;

        if (!json_is_object(o))
                return moat_error_set(e, file, 0, 0, "expected a JSON object of host facts, got %s",
                                      json_type_name(o));
        json_object_foreach(o, key, v) {
                const Field *f = field_find(key);
                if (!f)
                        return moat_error_set(e, file, 0, 0, "unknown field \"%s\"", key);
                r = field_from_json(h, v, file, f, e);
                if (r < 0)
                        return r;
        }
        if (h->is_root && h->uid != 0)
                return moat_error_set(e, file, 0, 0,
                                      "field \"is_root\": true, but \"uid\" is %u, not 0",
                                      (unsigned) h->uid);
        if (h->project_quota && !h->is_root)
                return moat_error_set(e, file, 0, 0,
                                      "field \"project_quota\": true, but \"is_root\" is false "
                                      "(only root can set project quotas)");
        /* Facts written before kvm_state existed said only kvm_usable. */
        if (!json_object_get(o, "kvm_state"))
                h->kvm_state = h->kvm_usable ? KVM_STATE_PROVEN : KVM_STATE_ABSENT;
        else if (h->kvm_usable != (h->kvm_state == KVM_STATE_PROVEN))
                return moat_error_set(
                        e, file, 0, 0, "field \"kvm_usable\": %s, but \"kvm_state\" is \"%s\"",
                        h->kvm_usable ? "true" : "false", kvm_state_to_string(h->kvm_state));
        /* The facts came from this file, whatever "source" says. */
        snprintf(h->source, sizeof(h->source), "%s", file);
        return 0;
}

int host_facts_from_json_buffer(const char *buf, size_t len, const char *filename, HostFacts *h,
                                MoatError *error) {
        const char *file = filename ? filename : "<host facts>";
        json_error_t jerr;
        json_t *o;
        int r;

        host_facts_set_defaults(h);
        o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!o)
                return moat_error_set(error, file, jerr.line > 0 ? (unsigned) jerr.line : 0,
                                      jerr.column > 0 ? (unsigned) jerr.column : 0, "%s",
                                      jerr.text);
        r = host_facts_from_object(o, file, h, error);
        json_decref(o);
        if (r < 0)
                host_facts_done(h);
        return r;
}

int host_facts_from_json_file(const char *path, HostFacts *h, MoatError *error) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;
        struct stat st;

        *h = (HostFacts){};
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0) {
                int r = -errno;
                moat_error_set(error, path, 0, 0, "cannot read host facts: %s", strerror(-r));
                return r;
        }
        if (!S_ISREG(st.st_mode) || st.st_size > HOST_FACTS_FILE_MAX)
                return moat_error_set(error, path, 0, 0, "not a regular file of at most %d bytes",
                                      HOST_FACTS_FILE_MAX);
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (n < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int r = -errno;
                        moat_error_set(error, path, 0, 0, "cannot read host facts: %s",
                                       strerror(-r));
                        return r;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        return host_facts_from_json_buffer(buf, n, path, h, error);
}
