/* SPDX-License-Identifier: MIT */
/* linux.seccomp of an OCI spec -> classic BPF. Runs in `moat oci create` (and exec) before the
 * container's init is cloned; changes no kernel state (the filter is loaded by the init). */
#include <errno.h>
#include <jansson.h>
#include <seccomp.h>
#include <string.h>

#include "basic/macros.h"
#include "sys/seccomp-oci.h"

static void ctx_releasep(scmp_filter_ctx *c) {
        if (*c)
                seccomp_release(*c);
}

static int action_of(const char *name, json_t *errno_ret, uint32_t *ret) {
        int e = json_is_integer(errno_ret) ? (int) json_integer_value(errno_ret) : EPERM;

        if (!name)
                return -EINVAL;
        if (strcmp(name, "SCMP_ACT_ALLOW") == 0)
                *ret = SCMP_ACT_ALLOW;
        else if (strcmp(name, "SCMP_ACT_ERRNO") == 0)
                *ret = SCMP_ACT_ERRNO((uint16_t) e);
        else if (strcmp(name, "SCMP_ACT_KILL") == 0 || strcmp(name, "SCMP_ACT_KILL_THREAD") == 0)
                *ret = SCMP_ACT_KILL;
        else if (strcmp(name, "SCMP_ACT_KILL_PROCESS") == 0)
                *ret = SCMP_ACT_KILL_PROCESS;
        else if (strcmp(name, "SCMP_ACT_TRAP") == 0)
                *ret = SCMP_ACT_TRAP;
        else if (strcmp(name, "SCMP_ACT_LOG") == 0)
                *ret = SCMP_ACT_LOG;
        else
                return -EINVAL;
        return 0;
}

static int op_of(const char *op, enum scmp_compare *ret) {
        static const struct {
                const char *name;
                enum scmp_compare op;
        } ops[] = { { "SCMP_CMP_NE", SCMP_CMP_NE },
                    { "SCMP_CMP_LT", SCMP_CMP_LT },
                    { "SCMP_CMP_LE", SCMP_CMP_LE },
                    { "SCMP_CMP_EQ", SCMP_CMP_EQ },
                    { "SCMP_CMP_GE", SCMP_CMP_GE },
                    { "SCMP_CMP_GT", SCMP_CMP_GT },
                    { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ } };
        for (size_t i = 0; op && i < ELEMENTSOF(ops); i++)
                if (strcmp(ops[i].name, op) == 0) {
                        *ret = ops[i].op;
                        return 0;
                }
        return -EINVAL;
}

static int add_rule(scmp_filter_ctx ctx, uint32_t def, json_t *rule) {
        struct scmp_arg_cmp cmp[6];
        unsigned n_cmp = 0;
        uint32_t action;
        size_t i;
        json_t *x;
        int r;

        r = action_of(json_string_value(json_object_get(rule, "action")),
                      json_object_get(rule, "errnoRet"), &action);
        if (r < 0)
                return r;
        if (action == def)
                return 0; /* libseccomp refuses a rule that repeats the default */
        json_array_foreach(json_object_get(rule, "args"), i, x) {
                enum scmp_compare op;
                if (n_cmp >= ELEMENTSOF(cmp) ||
                    op_of(json_string_value(json_object_get(x, "op")), &op) < 0)
                        return -EINVAL;
                cmp[n_cmp++] = (struct scmp_arg_cmp){
                        .arg = (unsigned) json_integer_value(json_object_get(x, "index")),
                        .op = op,
                        .datum_a = (scmp_datum_t) json_integer_value(json_object_get(x, "value")),
                        .datum_b =
                                (scmp_datum_t) json_integer_value(json_object_get(x, "valueTwo")),
                };
        }
        json_array_foreach(json_object_get(rule, "names"), i, x) {
                int nr = seccomp_syscall_resolve_name(json_string_value(x));
                if (nr == __NR_SCMP_ERROR)
                        continue;
                r = seccomp_rule_add_array(ctx, action, nr, n_cmp, cmp);
                if (r < 0 && r != -EEXIST)
                        return r;
        }
        return 0;
}

int sys_seccomp_compile_oci(json_t *sc, SeccompProgram *ret) {
        __attribute__((cleanup(ctx_releasep))) scmp_filter_ctx ctx = NULL;
        SeccompProgram prog = {};
        uint32_t def;
        size_t i;
        json_t *x;
        int r;

        r = action_of(json_string_value(json_object_get(sc, "defaultAction")),
                      json_object_get(sc, "defaultErrnoRet"), &def);
        if (r < 0)
                return r;
        ctx = seccomp_init(def);
        if (!ctx)
                return -ENOMEM;
        /* The ABIs the spec names; moat's own filter, loaded first, kills every other one. */
        json_array_foreach(json_object_get(sc, "architectures"), i, x) {
                const char *a = json_string_value(x);
                uint32_t arch = strcmp(a, "SCMP_ARCH_X86") == 0   ? SCMP_ARCH_X86
                                : strcmp(a, "SCMP_ARCH_X32") == 0 ? SCMP_ARCH_X32
                                                                  : SCMP_ARCH_X86_64;
                r = seccomp_arch_add(ctx, arch);
                if (r < 0 && r != -EEXIST)
                        return r;
        }
        json_array_foreach(json_object_get(sc, "syscalls"), i,
                           x) if ((r = add_rule(ctx, def, x)) < 0) return r;
        r = sys_seccomp_export_ctx(ctx, &prog.fprog);
        if (r < 0)
                return r;
        *ret = prog;
        return 0;
}
