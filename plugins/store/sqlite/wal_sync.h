/* Making the write-ahead log durable on a thread of the store's own.
 *
 * SQLite runs at synchronous=NORMAL: a commit writes its frames to the
 * WAL without syncing it. The store then syncs the WAL itself, which is
 * what synchronous=FULL would do inside the commit, but here the API
 * server can build its next batch of writes while the disk works. The
 * thread reports through an eventfd the API server polls. */
#ifndef KL_STORE_SQLITE_WAL_SYNC_H
#define KL_STORE_SQLITE_WAL_SYNC_H

#include <keelson/error.h>

typedef struct wal_sync wal_sync_t;

/* `db_path`'s WAL is synced when `durable`; otherwise every sync is done
 * at once (synchronous = "normal": commits survive a crash of the process,
 * not a power cut). */
wal_sync_t *wal_sync_new(const char *db_path, int durable, kl_error_t *err);
/* Waits for a sync in flight, then stops the thread. Accepts NULL. */
void wal_sync_destroy(wal_sync_t **self_p);

/* Starts syncing everything written to the WAL so far. */
int wal_sync_start(wal_sync_t *self, kl_error_t *err);
/* Readable once the sync started last is done. */
int wal_sync_fd(const wal_sync_t *self);
int wal_sync_in_flight(const wal_sync_t *self);
/* Waits for the sync in flight (if any) and reports how it went. */
int wal_sync_finish(wal_sync_t *self, kl_error_t *err);
/* Syncs on the caller's thread (nothing may be in flight). */
int wal_sync_now(wal_sync_t *self, kl_error_t *err);

#endif
