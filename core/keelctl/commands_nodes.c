/* keelctl's node edits: cordon/uncordon (spec.unschedulable) and taint
 * (spec.taints), each a read-modify-write of the Node through api.get and
 * api.update. */
#include <stdlib.h>
#include <string.h>

#include "commands_internal.h"

/* Changes a node's spec in place. Returns 1 when it changed it, 0 when there
 * was nothing to change, -1 after writing the reason to `why`. */
typedef int (*node_edit_fn)(json_t *spec, void *arg, char *why, size_t why_size);

/* Reads the node, edits it and writes it back against the revision read; a
 * write racing another writer (Conflict) starts over from a fresh read.
 * Returns what the edit returned, or -1 after printing the error. */
static int node_edit(kl_cli_t *cli, const char *name, node_edit_fn edit, void *arg)
{
    kl_error_t err;
    for (int attempt = 0; attempt < KL_CLI_UPDATE_ATTEMPTS; attempt++) {
        json_t *node = kl_cli_call(cli, "api.get", kl_cli_object_key(cli, "Node", name, NULL),
                                   cli->timeout_ms, &err);
        if (!node)
            break;
        json_t *spec = json_object_get(node, "spec");
        if (!json_is_object(spec)) {
            spec = json_object();
            json_object_set_new(node, "spec", spec);
        }
        char why[512] = "";
        int changed = edit(spec, arg, why, sizeof why);
        if (changed <= 0) {
            json_decref(node);
            if (changed < 0)
                kl_cli_fail(cli, "%s", why);
            return changed;
        }
        json_t *reply = kl_cli_call(cli, "api.update", json_pack("{s:o}", "object", node),
                                    cli->timeout_ms, &err);
        if (reply) {
            json_decref(reply);
            return 1;
        }
        if (err.code != KL_ERR_CONFLICT)
            break;
    }
    kl_cli_fail(cli, "%s", err.text);
    return -1;
}

/* ---- cordon / uncordon ------------------------------------------------ */

static int edit_unschedulable(json_t *spec, void *arg, char *why, size_t why_size)
{
    bool cordon = *(bool *)arg;
    (void)why;
    (void)why_size;
    if (json_is_true(json_object_get(spec, "unschedulable")) == cordon)
        return 0;
    if (cordon)
        json_object_set_new(spec, "unschedulable", json_true());
    else
        json_object_del(spec, "unschedulable");  /* false is the default, as kubectl leaves it */
    return 1;
}

int kl_cmd_cordon(kl_cli_t *cli, int argc, char **args, bool cordon)
{
    const char *verb = cordon ? "cordon" : "uncordon";
    if (argc < 1)
        return kl_cli_usage_error(cli, "%s needs the name of a node: keelctl %s NODE", verb, verb);
    int rc = 0;
    for (int i = 0; i < argc && !cli->unreachable; i++) {
        int changed = node_edit(cli, args[i], edit_unschedulable, &cordon);
        if (changed < 0)
            rc = 1;
        else
            fprintf(cli->out, "node/%s %s%s\n", args[i], changed ? "" : "already ",
                    cordon ? "cordoned" : "uncordoned");
    }
    fflush(cli->out);
    return rc;
}

/* ---- taint ------------------------------------------------------------- */

/* One taint argument: key[=value]:Effect to add; key[[=value]:Effect]- to
 * remove (an absent effect removes the key with every effect). */
typedef struct taint_spec {
    char key[320];
    char value[80];
    char effect[32];  /* "" only for a removal by key */
    bool has_value;
    bool remove;
} taint_spec_t;

static bool taint_effect_known(const char *effect)
{
    return strcmp(effect, "NoSchedule") == 0 || strcmp(effect, "PreferNoSchedule") == 0
           || strcmp(effect, "NoExecute") == 0;
}

static int taint_spec_parse(const char *text, taint_spec_t *spec, char *why, size_t why_size)
{
    memset(spec, 0, sizeof *spec);
    size_t length = strlen(text);
    if (length > 0 && text[length - 1] == '-') {
        spec->remove = true;
        length--;
    }
    char body[512];
    if (length == 0 || length >= sizeof body) {
        snprintf(why, why_size, "invalid taint spec \"%.200s\": expected key=value:Effect, key:Effect, "
                 "or key[:Effect]- to remove", text);
        return -1;
    }
    memcpy(body, text, length);
    body[length] = '\0';
    char *colon = strrchr(body, ':');
    if (colon) {
        *colon = '\0';
        snprintf(spec->effect, sizeof spec->effect, "%s", colon + 1);
        if (!taint_effect_known(spec->effect)) {
            snprintf(why, why_size, "invalid taint spec \"%.200s\": unknown effect \"%.200s\" (supported: "
                     "NoSchedule, PreferNoSchedule, NoExecute)", text, colon + 1);
            return -1;
        }
    } else if (!spec->remove) {
        snprintf(why, why_size, "invalid taint spec \"%.200s\": a taint to add needs an effect, as in "
                 "%.200s:NoSchedule", text, body);
        return -1;
    }
    char *equals = strchr(body, '=');
    if (equals) {
        *equals = '\0';
        spec->has_value = true;
        if (strlen(equals + 1) >= sizeof spec->value) {
            snprintf(why, why_size, "invalid taint spec \"%.200s\": the value is longer than 63 "
                     "characters", text);
            return -1;
        }
        snprintf(spec->value, sizeof spec->value, "%s", equals + 1);
    }
    if (!body[0] || strlen(body) >= sizeof spec->key || strpbrk(body, " \t:=")) {
        snprintf(why, why_size, "invalid taint spec \"%.200s\": the key must be a non-empty label key",
                 text);
        return -1;
    }
    snprintf(spec->key, sizeof spec->key, "%s", body);
    return 0;
}

typedef struct taint_edit {
    const taint_spec_t *specs;
    int count;
    const char *node;
    int added, removed;
} taint_edit_t;

static int edit_taints(json_t *spec, void *arg, char *why, size_t why_size)
{
    taint_edit_t *edit = arg;
    json_t *taints = json_object_get(spec, "taints");
    json_t *fresh = json_array();
    edit->added = edit->removed = 0;
    if (json_is_array(taints))
        json_array_extend(fresh, taints);
    for (int s = 0; s < edit->count; s++) {
        const taint_spec_t *t = &edit->specs[s];
        bool found = false;
        for (size_t i = json_array_size(fresh); i-- > 0;) {
            json_t *taint = json_array_get(fresh, i);
            const char *key = json_string_value(json_object_get(taint, "key"));
            const char *effect = json_string_value(json_object_get(taint, "effect"));
            if (!key || strcmp(key, t->key) != 0)
                continue;
            if (t->effect[0] && (!effect || strcmp(effect, t->effect) != 0))
                continue;
            found = true;
            if (t->remove) {
                json_array_remove(fresh, i);
                edit->removed++;
            }
        }
        if (t->remove && !found) {
            json_decref(fresh);
            snprintf(why, why_size, "taint \"%s%s%s\" not found on node %s", t->key,
                     t->effect[0] ? ":" : "", t->effect, edit->node);
            return -1;
        }
        if (!t->remove && found) {
            json_decref(fresh);
            snprintf(why, why_size, "node %s already has a %s taint with effect %s", edit->node,
                     t->key, t->effect);
            return -1;
        }
        if (!t->remove) {
            json_t *taint = json_pack("{s:s, s:s}", "key", t->key, "effect", t->effect);
            if (t->has_value)
                json_object_set_new(taint, "value", json_string(t->value));
            json_array_append_new(fresh, taint);
            edit->added++;
        }
    }
    if (json_array_size(fresh) == 0)
        json_object_del(spec, "taints");
    else
        json_object_set(spec, "taints", fresh);
    json_decref(fresh);
    return 1;
}

int kl_cmd_taint(kl_cli_t *cli, int argc, char **args)
{
    if (argc < 3)
        return kl_cli_usage_error(cli, "taint needs a node and at least one taint: keelctl taint "
                                       "nodes NODE key=value:Effect | key:Effect | key[:Effect]-");
    const char *kind = kl_cli_kind_of(args[0]);
    if (!kind || strcmp(kind, "Node") != 0)
        return kl_cli_usage_error(cli, "only nodes can be tainted, not \"%s\"", args[0]);
    taint_spec_t *specs = calloc((size_t)argc - 2, sizeof *specs);
    if (!specs)
        return kl_cli_fail(cli, "out of memory");
    char why[512];
    for (int i = 2; i < argc; i++) {
        if (taint_spec_parse(args[i], &specs[i - 2], why, sizeof why) < 0) {
            free(specs);
            return kl_cli_usage_error(cli, "%s", why);
        }
    }
    taint_edit_t edit = {.specs = specs, .count = argc - 2, .node = args[1]};
    int changed = node_edit(cli, args[1], edit_taints, &edit);
    free(specs);
    if (changed < 0)
        return 1;
    /* kubectl's words: only removals untaint, anything else taints. */
    fprintf(cli->out, "node/%s %s\n", args[1], edit.added == 0 ? "untainted" : "tainted");
    fflush(cli->out);
    return 0;
}
