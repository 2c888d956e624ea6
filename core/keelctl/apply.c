/* keelctl's commands over a manifest's objects: apply and create, and
 * delete -f. Every object of the manifest is created (or deleted) with
 * many requests in flight at once; for apply, each that already exists is
 * then read and updated the same way, and one that changed in between is
 * tried again alone. The master answers each request as its store commits
 * it, so a long manifest on etcd waits for one round trip per window of
 * requests instead of one per object. Results print in manifest order, as
 * kubectl prints them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "commands_internal.h"
#include "manifest.h"
#include "printers.h"
#include "workloads.h"

/* Requests in flight at once. */
#define APPLY_WINDOW 64

typedef enum apply_state {
    APPLY_SKIPPED,  /* refused before sending (its error printed) */
    APPLY_WAITING,  /* for the next round of requests */
    APPLY_DONE,     /* the round's request succeeded */
    APPLY_FAILED    /* err says why */
} apply_state_t;

typedef struct apply_item {
    json_t *object;  /* the manifest's object in its namespace (owned) */
    const char *where;
    apply_state_t state;
    const char *outcome;  /* "created", "configured" or "deleted" once done */
    json_t *reply;   /* a get's reply, for its resourceVersion */
    kl_error_t err;
} apply_item_t;

/* A round's request for one item (caller owns). */
typedef json_t *(*apply_payload_fn)(kl_cli_t *cli, const apply_item_t *item);

static void object_ref(const json_t *object, char *buf, size_t size)
{
    char singular[64];
    const char *kind = json_string_value(json_object_get(object, "kind"));
    kl_kind_singular(kind ? kind : "", singular, sizeof singular);
    snprintf(buf, size, "%s/%s", singular,
             json_string_value(json_object_get(json_object_get(object, "metadata"), "name")));
}

/* Marks every request still waiting as lost with the master. */
static void fail_waiting(kl_cli_t *cli, apply_item_t *items, size_t count, const char *why)
{
    cli->unreachable = true;
    for (size_t i = 0; i < count; i++)
        if (items[i].state == APPLY_WAITING) {
            items[i].state = APPLY_FAILED;
            kl_error_set(&items[i].err, KL_ERR_UNAVAILABLE, "cannot reach keelson at %s: %s",
                         cli->config.server, why);
        }
}

/* A round's requests in flight: which item each answers for. */
typedef struct flights {
    uint64_t id[APPLY_WINDOW];
    apply_item_t *item[APPLY_WINDOW];
    size_t count;
} flights_t;

/* One reply: the item whose request it answers takes its outcome. -1 when
 * none came in time (every item still waiting is then lost). */
static int take_reply(kl_cli_t *cli, apply_item_t *items, size_t count, flights_t *f,
                      const char *method, bool keep_reply)
{
    uint64_t id = 0;
    kl_error_t err;
    json_t *reply = kl_bus_recv(cli->client, &id, cli->timeout_ms, &err);
    if (!reply && err.code == KL_ERR_TIMEOUT) {
        char why[160];
        snprintf(why, sizeof why, "no reply to %s within %d ms", method, cli->timeout_ms);
        fail_waiting(cli, items, count, why);
        return -1;
    }
    for (size_t i = 0; i < f->count; i++)
        if (f->id[i] == id) {
            apply_item_t *item = f->item[i];
            item->state = reply ? APPLY_DONE : APPLY_FAILED;
            item->err = err;
            item->reply = keep_reply ? reply : NULL;
            if (!keep_reply)
                json_decref(reply);
            f->count--;
            f->id[i] = f->id[f->count];
            f->item[i] = f->item[f->count];
            return 0;
        }
    json_decref(reply);  /* a reply to nothing of ours */
    return 0;
}

/* Sends `method` for every waiting item, at most APPLY_WINDOW in flight;
 * each ends done (its reply kept when `ack_only` is false) or failed. */
static void run_round(kl_cli_t *cli, apply_item_t *items, size_t count, const char *method,
                      apply_payload_fn build, bool ack_only)
{
    kl_error_t err;
    if (!cli->client && !cli->unreachable) {
        cli->client = kl_bus_client_new(cli->config.server, &err);
        if (!cli->client) {
            fail_waiting(cli, items, count, err.text);
            return;
        }
    }
    flights_t f = {.count = 0};
    for (size_t i = 0; i < count && !cli->unreachable; i++) {
        if (items[i].state != APPLY_WAITING)
            continue;
        while (f.count == APPLY_WINDOW && take_reply(cli, items, count, &f, method, !ack_only) == 0)
            ;
        if (cli->unreachable)
            break;
        json_t *payload = build(cli, &items[i]);
        uint64_t id;
        int sent = ack_only ? kl_bus_send_ack(cli->client, method, payload, &id, &err)
                            : kl_bus_send(cli->client, method, payload, &id, &err);
        json_decref(payload);
        if (sent < 0) {
            items[i].state = APPLY_FAILED;
            items[i].err = err;
            continue;
        }
        f.id[f.count] = id;
        f.item[f.count++] = &items[i];
    }
    while (f.count > 0 && take_reply(cli, items, count, &f, method, !ack_only) == 0)
        ;
}

static json_t *object_payload(kl_cli_t *cli, const apply_item_t *item)
{
    (void)cli;
    return json_pack("{s:O}", "object", item->object);
}

static json_t *key_payload(kl_cli_t *cli, const apply_item_t *item)
{
    json_t *metadata = json_object_get(item->object, "metadata");
    return kl_cli_object_key(cli, json_string_value(json_object_get(item->object, "kind")),
                             json_string_value(json_object_get(metadata, "name")),
                             json_string_value(json_object_get(metadata, "namespace")));
}

/* Readies the items that failed the last round with `code` for the next;
 * returns how many. */
static size_t retry_failed(apply_item_t *items, size_t count, int code)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (items[i].state == APPLY_FAILED && items[i].err.code == code) {
            items[i].state = APPLY_WAITING;
            kl_error_clear(&items[i].err);
            n++;
        }
    return n;
}

/* Creates everything; for apply, reads and updates what exists. */
static void apply_all(kl_cli_t *cli, apply_item_t *items, size_t count, bool create_only)
{
    run_round(cli, items, count, "api.create", object_payload, true);
    for (size_t i = 0; i < count; i++)
        if (items[i].state == APPLY_DONE)
            items[i].outcome = "created";
    if (create_only || cli->unreachable || !retry_failed(items, count, KL_ERR_EXISTS))
        return;
    run_round(cli, items, count, "api.get", key_payload, false);
    for (size_t i = 0; i < count; i++) {
        if (items[i].state != APPLY_DONE || items[i].outcome)
            continue;
        /* Update against the revision just read: a write in between gives
         * Conflict, and that object is then tried again alone. */
        json_t *version = json_object_get(json_object_get(items[i].reply, "metadata"), "resourceVersion");
        if (version)
            json_object_set(json_object_get(items[i].object, "metadata"), "resourceVersion", version);
        json_decref(items[i].reply);
        items[i].reply = NULL;
        items[i].state = APPLY_WAITING;
    }
    run_round(cli, items, count, "api.update", object_payload, true);
    for (size_t i = 0; i < count; i++)
        if (items[i].state == APPLY_DONE && !items[i].outcome)
            items[i].outcome = "configured";
}

/* An update that met a write in between, alone: read, update against the
 * revision just read, and again on Conflict. 0 when configured, else -1
 * with err set. */
static int update_existing(kl_cli_t *cli, json_t *object, kl_error_t *err)
{
    const char *kind = json_string_value(json_object_get(object, "kind"));
    json_t *metadata = json_object_get(object, "metadata");
    const char *name = json_string_value(json_object_get(metadata, "name"));
    const char *namespace_name = json_string_value(json_object_get(metadata, "namespace"));
    for (int attempt = 0; attempt < KL_CLI_UPDATE_ATTEMPTS; attempt++) {
        json_t *current = kl_cli_call(cli, "api.get", kl_cli_object_key(cli, kind, name, namespace_name),
                                      cli->timeout_ms, err);
        if (!current)
            return -1;
        json_t *version = json_object_get(json_object_get(current, "metadata"), "resourceVersion");
        if (version)
            json_object_set(metadata, "resourceVersion", version);
        json_decref(current);
        json_t *reply = kl_cli_call(cli, "api.update", json_pack("{s:O}", "object", object),
                                    cli->timeout_ms, err);
        if (reply) {
            json_decref(reply);
            return 0;
        }
        if (err->code != KL_ERR_CONFLICT)
            return -1;
    }
    return -1;
}

/* Prints one item's outcome; an update that met a write in between is
 * tried again here, alone. */
static int report(kl_cli_t *cli, apply_item_t *item, bool create_only)
{
    char ref[300];
    object_ref(item->object, ref, sizeof ref);
    kl_error_t err = item->err;
    if (!item->outcome && !create_only && err.code == KL_ERR_CONFLICT && !cli->unreachable
        && update_existing(cli, item->object, &err) == 0)
        item->outcome = "configured";
    const char *kind = json_string_value(json_object_get(item->object, "kind"));
    if (item->outcome && strcmp(item->outcome, "deleted") == 0) {
        char singular[64];
        kl_kind_singular(kind ? kind : "", singular, sizeof singular);
        fprintf(cli->out, "%s \"%s\" deleted\n", singular,
                json_string_value(json_object_get(json_object_get(item->object, "metadata"), "name")));
        return 0;
    }
    if (item->outcome) {
        fprintf(cli->out, "%s %s\n", ref, item->outcome);
        kl_workloads_warn_missing_controller(cli, kind);
        return 0;
    }
    if (err.code == KL_ERR_UNAVAILABLE || err.code == KL_ERR_TIMEOUT)
        kl_cli_fail(cli, "%s", err.text); /* about the master, not this object */
    else
        kl_cli_fail(cli, "%s: %s", item->where, err.text);
    return -1;
}

/* The manifest's objects, each in its namespace and waiting for its first
 * request; a document that cannot be one is told now and skipped. NULL
 * with an exit code in *rc when the file cannot be read at all. The items
 * borrow from *manifest, which the caller destroys after them. */
static apply_item_t *load_items(kl_cli_t *cli, const char *verb, kl_manifest_t **manifest,
                                size_t *count, int *rc)
{
    kl_error_t err;
    *rc = 0;
    *manifest = kl_manifest_load(cli->filename, &err);
    if (!*manifest) {
        *rc = kl_cli_fail(cli, "%s", err.text);
        return NULL;
    }
    *count = kl_manifest_size(*manifest);
    if (*count == 0)
        *rc = kl_cli_fail(cli, "no objects passed to %s in %s", verb, cli->filename);
    apply_item_t *items = calloc(*count ? *count : 1, sizeof *items);
    if (!items) {
        kl_manifest_destroy(manifest);
        *rc = kl_cli_fail(cli, "out of memory reading %s", cli->filename);
        return NULL;
    }
    for (size_t i = 0; i < *count; i++) {
        const json_t *object = kl_manifest_object(*manifest, i);
        items[i].where = kl_manifest_where(*manifest, i);
        if (!object) {
            *rc = kl_cli_fail(cli, "%s: %s", items[i].where, kl_manifest_problem(*manifest, i));
            continue;
        }
        items[i].object = json_deep_copy(object);
        if (kl_cli_settle_namespace(cli, items[i].object, items[i].where) < 0) {
            *rc = 1;
            continue;
        }
        items[i].state = APPLY_WAITING;
    }
    return items;
}

/* Reports every item in manifest order (the master's absence once); frees
 * them and the manifest. Returns the exit code, 1 when any failed. */
static int report_all(kl_cli_t *cli, kl_manifest_t *manifest, apply_item_t *items, size_t count,
                      bool create_only, int rc)
{
    bool told_unreachable = false;
    for (size_t i = 0; i < count; i++) {
        apply_item_t *item = &items[i];
        if (item->state == APPLY_DONE || item->state == APPLY_FAILED) {
            bool lost = item->err.code == KL_ERR_UNAVAILABLE || item->err.code == KL_ERR_TIMEOUT;
            if (!(lost && told_unreachable) && report(cli, item, create_only) < 0)
                rc = 1;
            told_unreachable |= lost;
            rc |= lost;
        }
        json_decref(item->object);
        json_decref(item->reply);
    }
    free(items);
    kl_manifest_destroy(&manifest);
    return rc;
}

int kl_cmd_apply(kl_cli_t *cli, int argc, char **args, bool create_only)
{
    const char *verb = create_only ? "create" : "apply";
    if (!cli->filename)
        return kl_cli_usage_error(cli, "%s needs -f FILE (or -f - for standard input)", verb);
    if (argc > 0)
        return kl_cli_usage_error(cli, "%s takes no arguments besides -f, found \"%s\"", verb,
                                  args[0]);
    kl_manifest_t *manifest;
    size_t count = 0;
    int rc;
    apply_item_t *items = load_items(cli, verb, &manifest, &count, &rc);
    if (!items)
        return rc;
    apply_all(cli, items, count, create_only);
    return report_all(cli, manifest, items, count, create_only, rc);
}

/* delete -f's propagationPolicy, for delete_payload(). */
static const char *manifest_delete_policy;

static json_t *delete_payload(kl_cli_t *cli, const apply_item_t *item)
{
    json_t *payload = key_payload(cli, item);
    if (manifest_delete_policy)
        json_object_set_new(payload, "propagationPolicy", json_string(manifest_delete_policy));
    return payload;
}

int kl_cli_delete_manifest(kl_cli_t *cli, const char *policy)
{
    kl_manifest_t *manifest;
    size_t count = 0;
    int rc;
    apply_item_t *items = load_items(cli, "delete", &manifest, &count, &rc);
    if (!items)
        return rc;
    manifest_delete_policy = policy;
    run_round(cli, items, count, "api.delete", delete_payload, true);
    manifest_delete_policy = NULL;
    for (size_t i = 0; i < count; i++)
        if (items[i].state == APPLY_DONE)
            items[i].outcome = "deleted";
    return report_all(cli, manifest, items, count, true, rc);
}
