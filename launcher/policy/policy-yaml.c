/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "basic/strv.h"
#include "policy-yaml.h"

int policy_yaml_load(PolicyYaml *y, const char *buf, size_t len, const char *file,
                     MoatError *error) {
        yaml_parser_t parser;
        yaml_document_t extra;
        int r = 0;

        *y = (PolicyYaml){ .file = file };
        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *) buf, len);
        if (!yaml_parser_load(&parser, &y->doc)) {
                r = moat_error_set(error, file, (unsigned) parser.problem_mark.line + 1,
                                   (unsigned) parser.problem_mark.column + 1, "invalid YAML: %s",
                                   parser.problem ? parser.problem : "parse error");
                goto out;
        }
        y->loaded = true;
        if (!yaml_document_get_root_node(&y->doc)) {
                r = moat_error_set(error, file, 1, 1,
                                   "empty file: expected a mapping starting with 'moat: 1'");
                goto out;
        }
        /* A second document would be silently ignored by a reader that stops after the first. */
        if (!yaml_parser_load(&parser, &extra)) {
                r = moat_error_set(error, file, (unsigned) parser.problem_mark.line + 1,
                                   (unsigned) parser.problem_mark.column + 1, "invalid YAML: %s",
                                   parser.problem ? parser.problem : "parse error");
                goto out;
        }
        if (yaml_document_get_root_node(&extra)) {
                yaml_node_t *n = yaml_document_get_root_node(&extra);
                r = moat_error_set(error, file, (unsigned) n->start_mark.line + 1,
                                   (unsigned) n->start_mark.column + 1,
                                   "a policy file holds exactly one YAML document");
        }
        yaml_document_delete(&extra);
out:
        yaml_parser_delete(&parser);
        return r;
}

void policy_yaml_done(PolicyYaml *y) {
        if (y->loaded)
                yaml_document_delete(&y->doc);
        y->loaded = false;
}

yaml_node_t *policy_yaml_root(PolicyYaml *y) {
        return yaml_document_get_root_node(&y->doc);
}

SrcPos policy_yaml_pos(const PolicyYaml *y, const yaml_node_t *n) {
        return (SrcPos){
                .file = y->file,
                .line = n ? (unsigned) n->start_mark.line + 1 : 0,
                .column = n ? (unsigned) n->start_mark.column + 1 : 0,
        };
}

int policy_yaml_error(const PolicyYaml *y, const yaml_node_t *n, MoatError *error, const char *fmt,
                      ...) {
        char msg[512];
        va_list ap;
        SrcPos pos = policy_yaml_pos(y, n);

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return moat_error_set(error, pos.file, pos.line, pos.column, "%s", msg);
}

static const char *node_kind(const yaml_node_t *n) {
        switch (n->type) {
        case YAML_SCALAR_NODE:
                return "a scalar";
        case YAML_SEQUENCE_NODE:
                return "a list";
        case YAML_MAPPING_NODE:
                return "a mapping";
        default:
                return "nothing";
        }
}

static const char *scalar(const yaml_node_t *n) {
        return (const char *) n->data.scalar.value;
}

int policy_yaml_check_mapping(PolicyYaml *y, yaml_node_t *n, const char *what,
                              const char *const *allowed, MoatError *error) {
        if (n->type != YAML_MAPPING_NODE)
                return policy_yaml_error(y, n, error, "%s: expected a mapping, found %s", what,
                                         node_kind(n));

        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
                yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);
                bool known = false;

                if (k->type != YAML_SCALAR_NODE)
                        return policy_yaml_error(y, k, error, "%s: keys must be plain words", what);
                for (const char *const *a = allowed; *a; a++)
                        if (strcmp(*a, scalar(k)) == 0)
                                known = true;
                if (!known) {
                        char expected[400] = "";
                        for (const char *const *a = allowed; *a; a++) {
                                strncat(expected, *a, sizeof(expected) - strlen(expected) - 3);
                                if (a[1])
                                        strncat(expected, ", ",
                                                sizeof(expected) - strlen(expected) - 1);
                        }
                        return policy_yaml_error(y, k, error,
                                                 "%s: unknown key '%s' (expected one of: %s)", what,
                                                 scalar(k), expected);
                }
                for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
                        yaml_node_t *k2 = yaml_document_get_node(&y->doc, q->key);
                        if (strcmp(scalar(k2), scalar(k)) == 0)
                                return policy_yaml_error(
                                        y, k, error, "%s: duplicate key '%s' (first at line %u)",
                                        what, scalar(k), (unsigned) k2->start_mark.line + 1);
                }
        }
        return 0;
}

yaml_node_t *policy_yaml_get(PolicyYaml *y, yaml_node_t *map, const char *key,
                             yaml_node_t **ret_key) {
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
             p++) {
                yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);
                if (k->type == YAML_SCALAR_NODE && strcmp(scalar(k), key) == 0) {
                        if (ret_key)
                                *ret_key = k;
                        return yaml_document_get_node(&y->doc, p->value);
                }
        }
        return NULL;
}

int policy_yaml_scalar(PolicyYaml *y, yaml_node_t *n, const char *what, const char **ret,
                       MoatError *error) {
        if (n->type != YAML_SCALAR_NODE)
                return policy_yaml_error(y, n, error, "%s: expected a string, found %s", what,
                                         node_kind(n));
        if (n->data.scalar.length == 0)
                return policy_yaml_error(y, n, error, "%s: must not be empty", what);
        if (strlen(scalar(n)) != n->data.scalar.length)
                return policy_yaml_error(y, n, error, "%s: contains a NUL byte", what);
        *ret = scalar(n);
        return 0;
}

int policy_yaml_string(PolicyYaml *y, yaml_node_t *n, const char *what, char **ret,
                       MoatError *error) {
        const char *s;
        int r = policy_yaml_scalar(y, n, what, &s, error);
        if (r < 0)
                return r;
        char *c = strdup(s);
        if (!c)
                return -ENOMEM;
        free(*ret);
        *ret = c;
        return 0;
}

int policy_yaml_bool(PolicyYaml *y, yaml_node_t *n, const char *what, bool *ret, MoatError *error) {
        if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
                if (strcmp(scalar(n), "true") == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcmp(scalar(n), "false") == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return policy_yaml_error(y, n, error, "%s: expected true or false", what);
}

int policy_yaml_uint(PolicyYaml *y, yaml_node_t *n, const char *what, uint64_t max, uint64_t *ret,
                     MoatError *error) {
        const char *s;
        uint64_t v = 0;
        unsigned base = 10;

        if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                goto bad;
        s = scalar(n);
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                s += 2;
        }
        if (!*s)
                goto bad;
        for (; *s; s++) {
                unsigned d;
                if (*s >= '0' && *s <= '9')
                        d = (unsigned) (*s - '0');
                else if (base == 16 && *s >= 'a' && *s <= 'f')
                        d = (unsigned) (*s - 'a' + 10);
                else if (base == 16 && *s >= 'A' && *s <= 'F')
                        d = (unsigned) (*s - 'A' + 10);
                else
                        goto bad;
                if (v > (UINT64_MAX - d) / base)
                        goto range;
                v = v * base + d;
        }
        if (v > max)
                goto range;
        *ret = v;
        return 0;
bad:
        return policy_yaml_error(y, n, error,
                                 "%s: expected an unsigned integer (decimal or 0x hex)", what);
range:
        return policy_yaml_error(y, n, error, "%s: must be at most %" PRIu64, what, max);
}

int policy_yaml_check_sequence(PolicyYaml *y, yaml_node_t *n, const char *what, MoatError *error) {
        if (n->type != YAML_SEQUENCE_NODE)
                return policy_yaml_error(y, n, error, "%s: expected a list, found %s", what,
                                         node_kind(n));
        return 0;
}

size_t policy_yaml_sequence_length(yaml_node_t *n) {
        return (size_t) (n->data.sequence.items.top - n->data.sequence.items.start);
}

yaml_node_t *policy_yaml_sequence_item(PolicyYaml *y, yaml_node_t *n, size_t i) {
        return yaml_document_get_node(&y->doc, n->data.sequence.items.start[i]);
}

int policy_yaml_strv(PolicyYaml *y, yaml_node_t *n, const char *what, char ***ret,
                     MoatError *error) {
        _cleanup_strv_free_ char **l = NULL;
        int r = policy_yaml_check_sequence(y, n, what, error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < policy_yaml_sequence_length(n); i++) {
                yaml_node_t *item = policy_yaml_sequence_item(y, n, i);
                const char *s;
                r = policy_yaml_scalar(y, item, what, &s, error);
                if (r < 0)
                        return r;
                if (strv_contains(l, s))
                        return policy_yaml_error(y, item, error, "%s: '%s' is listed twice", what,
                                                 s);
                r = strv_extend(&l, s);
                if (r < 0)
                        return r;
        }
        strv_free(*ret);
        *ret = l;
        l = NULL;
        return 0;
}
