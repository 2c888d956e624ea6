/* One long-lived etcd watch that keeps the latest changes in memory, so the
 * change feed is read without opening a watch per read: etcd answers a
 * watch that starts in the past from its unsynced group, every 100 ms. */
#ifndef KL_STORE_ETCD_FEED_H
#define KL_STORE_ETCD_FEED_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct etcd_feed etcd_feed_t;

/* Follows every change after revision `after` on the first of `urls`
 * (NULL-terminated "http://HOST:PORT", copied) that answers, keeping at most
 * `capacity` revisions. A feed for the same `urls` already running in this
 * process is shared instead (its own start and capacity hold). Returns NULL
 * when out of memory. Each start is matched by one stop. */
etcd_feed_t *etcd_feed_start(const char *const *urls, int64_t after, size_t capacity);
void etcd_feed_stop(etcd_feed_t **feed_p);
/* The feed this process already runs for `urls`, shared (matched by one
 * stop), or NULL when there is none. */
etcd_feed_t *etcd_feed_join(const char *const *urls);

/* Calls visit(events, revision, arg) for each revision after `after` the
 * feed holds, in order, with that revision's watch events (borrowed), until
 * visit returns non-zero. First waits up to `wait_ms` for the feed to reach
 * `wanted` (a revision known to exist). Returns 0 with *reached set to the
 * revision the feed has seen, or -1 when it does not reach back to `after`
 * (not started yet, restarted after a compaction, or fallen behind). */
/* A reader told of new revisions: when the feed takes in a revision and
 * `armed` is set, it clears `armed` and adds 1 to the eventfd `fd`. The
 * reader sets `armed` again before each read, so it hears of whatever that
 * read may miss, and is not woken while it reads nothing. */
typedef struct etcd_feed_listener {
    int fd;
    atomic_int armed;
    struct etcd_feed_listener *next;  /* the feed's, under its lock */
} etcd_feed_listener_t;
void etcd_feed_listen(etcd_feed_t *feed, etcd_feed_listener_t *listener);
void etcd_feed_unlisten(etcd_feed_t *feed, etcd_feed_listener_t *listener);

typedef int (*etcd_feed_visit_fn)(const json_t *events, int64_t revision, void *arg);
int etcd_feed_read(etcd_feed_t *feed, int64_t after, int64_t wanted, int wait_ms,
                   etcd_feed_visit_fn visit, void *arg, int64_t *reached);

#endif
