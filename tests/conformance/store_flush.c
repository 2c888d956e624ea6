/* Conformance group for durability in the background (store ABI 1.3): a
 * batch ended by flush_begin() is made durable while the next one is
 * written, flush_fd() says when, and flush_end() reports it. */
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "store_conformance.h"

static int readable_within(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/* Ends the batch in flight once its descriptor says it may. */
static int land(kl_conformance_t *c, int fd, kl_error_t *err)
{
    if (!readable_within(fd, 10000))
        return kl_error_set(err, KL_ERR_TIMEOUT, "flush_fd() was not readable within 10 s");
    return c->ops->flush_end(c->store, err);
}

void kl_group_flush_behind(kl_conformance_t *c)
{
    int has = KL_CONFORMANCE_HAS(c, flush_begin) + KL_CONFORMANCE_HAS(c, flush_fd)
              + KL_CONFORMANCE_HAS(c, flush_end);
    if (has == 0) {
        kl_tap_skip("flush behind: the plugin makes writes durable in flush() alone (or was "
                    "built before ABI 1.3)");
        return;
    }
    kl_conformance_begin(c, "flush-behind");
    if (!kl_tap_ok(has == 3 && KL_CONFORMANCE_HAS(c, flush),
                   "flush_begin, flush_fd and flush_end come together, with flush"))
        return;
    const kl_store_ops_t *ops = c->ops;
    kl_error_t err;
    kl_error_clear(&err);
    char first[256], second[256];
    kl_conformance_key(c, first, sizeof first, "batch-1");
    kl_conformance_key(c, second, sizeof second, "batch-2");
    int64_t rev1 = -1, rev2 = -1;
    kl_tap_call(ops->create(c->store, first, "1", 1, &rev1, &err), &err, "a write");
    kl_tap_call(ops->flush_begin(c->store, &err), &err, "flush_begin() ends its batch");
    int fd = ops->flush_fd(c->store);
    kl_tap_ok(fd >= 0, "flush_fd() gives a descriptor (%d)", fd);
    kl_tap_call(ops->create(c->store, second, "2", 1, &rev2, &err), &err,
                "a write while the batch is in flight");
    kl_tap_ok(rev2 > rev1, "takes a later revision (%lld after %lld)", (long long)rev2,
              (long long)rev1);
    kl_tap_call(land(c, fd, &err), &err, "the descriptor turns readable and flush_end() succeeds");
    kl_tap_ok(!readable_within(fd, 100), "flush_end() clears the descriptor");
    kl_kv_copy_t kv = {0};
    kl_tap_call(kl_conformance_get(c, first, &kv, &err), &err, "the first batch's key reads back");
    kl_tap_ok(kv.mod_revision == rev1 && kv.value_len == 1 && kv.value[0] == '1',
              "... with its value and revision");
    kl_kv_copy_clear(&kv);
    kl_tap_call(kl_conformance_get(c, second, &kv, &err), &err,
                "the write made while it was in flight reads back");
    kl_kv_copy_clear(&kv);
    kl_tap_call(ops->flush_begin(c->store, &err), &err, "flush_begin() for that second batch");
    kl_tap_call(land(c, fd, &err), &err, "which lands too");
    kl_tap_call(ops->flush_begin(c->store, &err), &err, "flush_begin() with nothing written");
    kl_tap_call(land(c, fd, &err), &err, "lands at once");
    kl_tap_call(ops->flush(c->store, &err), &err, "flush() after the pipeline");
    kl_tap_ok(ops->revision(c->store) == rev2, "the revision is the last write's");
    kl_conformance_end(c);
}
