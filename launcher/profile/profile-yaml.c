/* SPDX-License-Identifier: MIT */
/* PURE. libyaml events -> YNode tree, refusing what the profile language does not have. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "basic/macros.h"
#include "profile-internal.h"

typedef struct YParser {
        yaml_parser_t parser;
        const char *file;
        MoatError *error;
} YParser;

YNode *ynode_free(YNode *n) {
        if (!n)
                return NULL;
        free(n->value);
        for (size_t i = 0; i < n->n_items; i++)
                ynode_free(n->items[i]);
        free(n->items);
        for (size_t i = 0; i < n->n_pairs; i++) {
                ynode_free(n->pairs[i].key);
                ynode_free(n->pairs[i].value);
        }
        free(n->pairs);
        free(n);
        return NULL;
}

const char *ynode_describe(const YNode *n) {
        if (n->kind == YNODE_SEQ)
                return "a list";
        if (n->kind == YNODE_MAP)
                return "a mapping";
        switch (n->type) {
        case YSCALAR_NULL:
                return "an empty value";
        case YSCALAR_BOOL:
                return "a boolean";
        case YSCALAR_INT:
                return "an integer";
        case YSCALAR_FLOAT:
                return "a number";
        default:
                return "a string";
        }
}

static bool all_of(const char *s, const char *set) {
        return *s != '\0' && s[strspn(s, set)] == '\0';
}

static bool is_float(const char *s) {
        static const char *const special[] = {
                ".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf", "+.INF",
                "-.inf", "-.Inf", "-.INF", ".nan",  ".NaN",  ".NAN",
        };
        size_t n;
        bool digits = false;

        for (size_t i = 0; i < ELEMENTSOF(special); i++)
                if (strcmp(s, special[i]) == 0)
                        return true;
        if (*s == '+' || *s == '-')
                s++;
        n = strspn(s, "0123456789");
        digits = n > 0;
        s += n;
        if (*s == '.') {
                s++;
                n = strspn(s, "0123456789");
                digits = digits || n > 0;
                s += n;
        }
        if (!digits)
                return false;
        if (*s == 'e' || *s == 'E') {
                s++;
                if (*s == '+' || *s == '-')
                        s++;
                if (!all_of(s, "0123456789"))
                        return false;
                return true;
        }
        return *s == '\0';
}

/* YAML 1.2 core schema resolution of a plain scalar, so that the JSON Schema (which sees
 * the same document through a 1.2 loader) and this parser agree on every value's type. */
static YScalarType resolve_plain(const char *s) {
        static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
        static const char *const bools[] = { "true", "True", "TRUE", "false", "False", "FALSE" };
        const char *d = s;

        for (size_t i = 0; i < ELEMENTSOF(nulls); i++)
                if (strcmp(s, nulls[i]) == 0)
                        return YSCALAR_NULL;
        for (size_t i = 0; i < ELEMENTSOF(bools); i++)
                if (strcmp(s, bools[i]) == 0)
                        return YSCALAR_BOOL;
        if (*d == '+' || *d == '-')
                d++;
        if (all_of(d, "0123456789"))
                return YSCALAR_INT;
        if ((strncmp(s, "0o", 2) == 0 && all_of(s + 2, "01234567")) ||
            (strncmp(s, "0x", 2) == 0 && all_of(s + 2, "0123456789abcdefABCDEF")))
                return YSCALAR_INT;
        if (is_float(s))
                return YSCALAR_FLOAT;
        return YSCALAR_STRING;
}

static int yfail(YParser *y, const yaml_mark_t *m, const char *msg) {
        return moat_error_set(y->error, y->file, (unsigned) m->line + 1, (unsigned) m->column + 1,
                              "%s", msg);
}

static int next_event(YParser *y, yaml_event_t *ev) {
        if (!yaml_parser_parse(&y->parser, ev)) {
                if (y->parser.error == YAML_MEMORY_ERROR)
                        return -ENOMEM;
                return moat_error_set(
                        y->error, y->file, (unsigned) y->parser.problem_mark.line + 1,
                        (unsigned) y->parser.problem_mark.column + 1, "YAML syntax error: %s%s%s",
                        y->parser.problem ? y->parser.problem : "malformed document",
                        y->parser.context ? " " : "", y->parser.context ? y->parser.context : "");
        }
        return 0;
}

static int check_node_props(YParser *y, const yaml_event_t *ev, const char *anchor,
                            const char *tag) {
        if (anchor)
                return yfail(y, &ev->start_mark,
                             "YAML anchors and aliases are not supported in profiles");
        if (tag)
                return moat_error_set(y->error, y->file, (unsigned) ev->start_mark.line + 1,
                                      (unsigned) ev->start_mark.column + 1,
                                      "YAML tags are not supported in profiles (found '%s')", tag);
        return 0;
}

static int too_many(YParser *y, const yaml_event_t *ev) {
        return moat_error_set(y->error, y->file, (unsigned) ev->start_mark.line + 1,
                              (unsigned) ev->start_mark.column + 1,
                              "too many entries in one list or mapping (at most %d)",
                              YNODE_MAX_ENTRIES);
}

static YNode *ynode_new(YNodeKind kind, YParser *y, const yaml_event_t *ev) {
        YNode *n = calloc(1, sizeof(YNode));
        if (!n)
                return NULL;
        n->kind = kind;
        n->pos = (SrcPos){ y->file, (unsigned) ev->start_mark.line + 1,
                           (unsigned) ev->start_mark.column + 1 };
        return n;
}

static int parse_node(YParser *y, yaml_event_t *ev, unsigned depth, YNode **ret);

static int parse_scalar(YParser *y, yaml_event_t *ev, YNode **ret) {
        _cleanup_ynode_ YNode *n = NULL;
        int r;

        r = check_node_props(y, ev, (const char *) ev->data.scalar.anchor,
                             (const char *) ev->data.scalar.tag);
        if (r < 0)
                return r;
        if (strlen((const char *) ev->data.scalar.value) != ev->data.scalar.length)
                return yfail(y, &ev->start_mark, "NUL character in a value");
        n = ynode_new(YNODE_SCALAR, y, ev);
        if (!n)
                return -ENOMEM;
        n->value = strndup((const char *) ev->data.scalar.value, ev->data.scalar.length);
        if (!n->value)
                return -ENOMEM;
        n->type = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? resolve_plain(n->value)
                                                                   : YSCALAR_STRING;
        *ret = TAKE_PTR(n);
        return 0;
}

static int parse_seq(YParser *y, yaml_event_t *ev, unsigned depth, YNode **ret) {
        _cleanup_ynode_ YNode *n = NULL;
        int r;

        r = check_node_props(y, ev, (const char *) ev->data.sequence_start.anchor,
                             (const char *) ev->data.sequence_start.tag);
        if (r < 0)
                return r;
        n = ynode_new(YNODE_SEQ, y, ev);
        if (!n)
                return -ENOMEM;
        for (;;) {
                yaml_event_t item;
                YNode *child = NULL, **items;

                r = next_event(y, &item);
                if (r < 0)
                        return r;
                if (item.type == YAML_SEQUENCE_END_EVENT) {
                        yaml_event_delete(&item);
                        break;
                }
                if (n->n_items >= YNODE_MAX_ENTRIES) {
                        r = too_many(y, &item);
                        yaml_event_delete(&item);
                        return r;
                }
                r = parse_node(y, &item, depth + 1, &child);
                yaml_event_delete(&item);
                if (r < 0)
                        return r;
                items = realloc(n->items, sizeof(YNode *) * (n->n_items + 1));
                if (!items) {
                        ynode_free(child);
                        return -ENOMEM;
                }
                n->items = items;
                n->items[n->n_items++] = child;
        }
        *ret = TAKE_PTR(n);
        return 0;
}

static int map_add(YParser *y, YNode *map, YNode *key, YNode *value) {
        YPair *pairs;

        for (size_t i = 0; i < map->n_pairs; i++)
                if (strcmp(map->pairs[i].key->value, key->value) == 0) {
                        int r = moat_error_set(y->error, y->file, key->pos.line, key->pos.column,
                                               "duplicate key '%s' (first defined at line %u)",
                                               key->value, map->pairs[i].key->pos.line);
                        ynode_free(key);
                        ynode_free(value);
                        return r;
                }
        pairs = realloc(map->pairs, sizeof(YPair) * (map->n_pairs + 1));
        if (!pairs) {
                ynode_free(key);
                ynode_free(value);
                return -ENOMEM;
        }
        map->pairs = pairs;
        map->pairs[map->n_pairs++] = (YPair){ key, value };
        return 0;
}

static int parse_map(YParser *y, yaml_event_t *ev, unsigned depth, YNode **ret) {
        _cleanup_ynode_ YNode *n = NULL;
        int r;

        r = check_node_props(y, ev, (const char *) ev->data.mapping_start.anchor,
                             (const char *) ev->data.mapping_start.tag);
        if (r < 0)
                return r;
        n = ynode_new(YNODE_MAP, y, ev);
        if (!n)
                return -ENOMEM;
        for (;;) {
                yaml_event_t kev, vev;
                _cleanup_ynode_ YNode *key = NULL;
                YNode *value = NULL;

                r = next_event(y, &kev);
                if (r < 0)
                        return r;
                if (kev.type == YAML_MAPPING_END_EVENT) {
                        yaml_event_delete(&kev);
                        break;
                }
                if (n->n_pairs >= YNODE_MAX_ENTRIES) {
                        r = too_many(y, &kev);
                        yaml_event_delete(&kev);
                        return r;
                }
                if (kev.type != YAML_SCALAR_EVENT && kev.type != YAML_ALIAS_EVENT) {
                        r = yfail(y, &kev.start_mark,
                                  "only plain scalar keys are supported in profiles");
                        yaml_event_delete(&kev);
                        return r;
                }
                r = parse_node(y, &kev, depth + 1, &key);
                yaml_event_delete(&kev);
                if (r < 0)
                        return r;
                r = next_event(y, &vev);
                if (r < 0)
                        return r;
                r = parse_node(y, &vev, depth + 1, &value);
                yaml_event_delete(&vev);
                if (r < 0)
                        return r;
                r = map_add(y, n, TAKE_PTR(key), value);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(n);
        return 0;
}

static int parse_node(YParser *y, yaml_event_t *ev, unsigned depth, YNode **ret) {
        if (depth > YNODE_MAX_DEPTH)
                return yfail(y, &ev->start_mark, "nesting is too deep for a profile");
        switch (ev->type) {
        case YAML_SCALAR_EVENT:
                return parse_scalar(y, ev, ret);
        case YAML_SEQUENCE_START_EVENT:
                return parse_seq(y, ev, depth, ret);
        case YAML_MAPPING_START_EVENT:
                return parse_map(y, ev, depth, ret);
        case YAML_ALIAS_EVENT:
                return yfail(y, &ev->start_mark,
                             "YAML anchors and aliases are not supported in profiles");
        default:
                return yfail(y, &ev->start_mark, "YAML syntax error: unexpected event");
        }
}

/* STREAM-START [DOCUMENT-START node DOCUMENT-END] STREAM-END, and nothing else. */
static int parse_stream(YParser *y, YNode **ret) {
        _cleanup_ynode_ YNode *root = NULL;
        yaml_event_t ev;
        bool seen_document = false;
        int r;

        for (;;) {
                r = next_event(y, &ev);
                if (r < 0)
                        return r;
                switch (ev.type) {
                case YAML_STREAM_START_EVENT:
                case YAML_DOCUMENT_END_EVENT:
                        break;
                case YAML_STREAM_END_EVENT:
                        yaml_event_delete(&ev);
                        *ret = TAKE_PTR(root);
                        return 0;
                case YAML_DOCUMENT_START_EVENT:
                        if (seen_document)
                                r = yfail(y, &ev.start_mark,
                                          "only one YAML document is allowed in a profile");
                        else if (ev.data.document_start.version_directive ||
                                 ev.data.document_start.tag_directives.start !=
                                         ev.data.document_start.tag_directives.end)
                                r = yfail(y, &ev.start_mark,
                                          "YAML directives are not supported in profiles");
                        seen_document = true;
                        break;
                default:
                        r = parse_node(y, &ev, 0, &root);
                        break;
                }
                yaml_event_delete(&ev);
                if (r < 0)
                        return r;
        }
}

int ynode_parse(const char *buf, size_t len, const char *file, YNode **ret, MoatError *error) {
        YParser y = { .file = file, .error = error };
        int r;

        if (!yaml_parser_initialize(&y.parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&y.parser, (const unsigned char *) buf, len);
        r = parse_stream(&y, ret);
        yaml_parser_delete(&y.parser);
        return r;
}

YNode *ynode_map_get(const YNode *map, const char *key) {
        if (!map || map->kind != YNODE_MAP)
                return NULL;
        for (size_t i = 0; i < map->n_pairs; i++)
                if (strcmp(map->pairs[i].key->value, key) == 0)
                        return map->pairs[i].value;
        return NULL;
}

int ynode_merge(YNode *base, YNode *overlay) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < overlay->n_pairs; i++) {
                YPair *o = &overlay->pairs[i];
                YPair *b = NULL;

                for (size_t j = 0; j < base->n_pairs; j++)
                        if (strcmp(base->pairs[j].key->value, o->key->value) == 0)
                                b = &base->pairs[j];
                if (b && b->value->kind == YNODE_MAP && o->value->kind == YNODE_MAP)
                        r = ynode_merge(b->value, TAKE_PTR(o->value));
                else if (b) {
                        ynode_free(b->key);
                        ynode_free(b->value);
                        b->key = TAKE_PTR(o->key);
                        b->value = TAKE_PTR(o->value);
                } else {
                        YPair *pairs = realloc(base->pairs, sizeof(YPair) * (base->n_pairs + 1));
                        if (!pairs)
                                r = -ENOMEM;
                        else {
                                base->pairs = pairs;
                                base->pairs[base->n_pairs++] =
                                        (YPair){ TAKE_PTR(o->key), TAKE_PTR(o->value) };
                        }
                }
        }
        ynode_free(overlay);
        return r;
}
