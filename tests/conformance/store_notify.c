/* Conformance group for change notification (store ABI 1.2): a store that
 * gives changes_fd() wakes its reader when another writer's change can be
 * read, and stays quiet when there is nothing new. */
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "store_conformance.h"

typedef struct seen {
    const char *key;
    int found;
} seen_t;

static int note_key(const kl_store_event_t *event, void *arg)
{
    seen_t *s = arg;
    if (event->type == KL_STORE_PUT && strcmp(event->kv.key, s->key) == 0)
        s->found = 1;
    return 0;
}

static int readable_within(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

void kl_group_notify(kl_conformance_t *c)
{
    if (!KL_CONFORMANCE_HAS(c, changes_fd) || !KL_CONFORMANCE_HAS(c, changes)) {
        kl_tap_skip("notify: the plugin gives no change descriptor (no other writers to tell of, or built before ABI 1.2)");
        return;
    }
    int fd = c->ops->changes_fd(c->store);
    if (fd < 0) {
        kl_tap_skip("notify: changes_fd() says this store has no descriptor");
        return;
    }
    if (!kl_conformance_shared(c)) {
        kl_tap_skip("notify: only a shared store has other writers to tell of");
        return;
    }
    kl_conformance_begin(c, "notify");
    const kl_store_ops_t *ops = c->ops;
    kl_error_t err;
    kl_error_clear(&err);
    kl_plugin_t *other = kl_conformance_open(c, &err);
    if (!kl_tap_ok(other != NULL, "a second instance opens as the other writer %s", err.text))
        return;
    kl_tap_ok(ops->changes_fd(c->store) == fd, "changes_fd() gives the same descriptor again");

    char key[256];
    kl_conformance_key(c, key, sizeof key, "from-the-other");
    int64_t from = ops->revision(c->store), last = 0;
    seen_t seen = {key, 0};
    /* Earlier groups' writes may still be on their way to the store's
     * feed, and may wake it once more: read until nothing is left. */
    int quiet = 0, rounds = 0, failed = 0;
    while (!quiet && !failed && rounds++ < 10) {
        failed = ops->changes(c->store, c->prefix, from, 0, note_key, &seen, &last, &err) < 0;
        quiet = !failed && !readable_within(fd, 300);
    }
    kl_tap_ok(!failed, "changes() arms the descriptor %s", failed ? err.text : "");
    kl_tap_ok(quiet, "with nothing new it stays quiet for 300 ms (after %d reads)", rounds);

    int64_t rev = 0, t0 = kl_conformance_now_ms();
    kl_tap_call(((const kl_store_ops_t *)other->ops)->create(other->state, key, "v", 1, &rev, &err),
                &err, "the other instance writes a key");
    int woke = readable_within(fd, 5000);
    kl_tap_ok(woke, "the descriptor turns readable within 5 s (%lld ms)",
              (long long)(kl_conformance_now_ms() - t0));
    kl_tap_call(ops->changes(c->store, c->prefix, from, 0, note_key, &seen, &last, &err), &err,
                "changes() after the wake");
    kl_tap_ok(seen.found && last >= rev, "gives the other instance's write");
    kl_tap_ok(!readable_within(fd, 300), "and clears the descriptor");
    kl_plugin_destroy(&other);
    kl_conformance_end(c);
}
