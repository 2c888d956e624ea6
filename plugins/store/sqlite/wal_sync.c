/* The store's WAL sync thread: see wal_sync.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wal_sync.h"

struct wal_sync {
    char *wal_path;
    int durable;
    int wal_fd;      /* -1 until the WAL exists */
    dev_t wal_dev;
    ino_t wal_ino;
    int done_fd;     /* eventfd: a sync finished */
    int in_flight;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int requested, stopping;
    int result;      /* errno of the last sync, 0 when it worked */
};

/* The WAL's descriptor, opened again when SQLite has replaced the file. A
 * sync through any descriptor of the file flushes all of its data. */
static int wal_open(wal_sync_t *self, kl_error_t *err)
{
    struct stat st;
    if (stat(self->wal_path, &st) < 0) {
        if (errno == ENOENT)
            return 0;  /* nothing written yet: nothing to sync */
        return kl_error_set(err, KL_ERR_UNAVAILABLE, "sqlite store: cannot read %s: %s",
                            self->wal_path, strerror(errno));
    }
    if (self->wal_fd >= 0 && st.st_dev == self->wal_dev && st.st_ino == self->wal_ino)
        return 0;
    int fd = open(self->wal_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kl_error_set(err, KL_ERR_UNAVAILABLE, "sqlite store: cannot open %s: %s",
                            self->wal_path, strerror(errno));
    if (self->wal_fd >= 0)
        close(self->wal_fd);
    self->wal_fd = fd;
    self->wal_dev = st.st_dev;
    self->wal_ino = st.st_ino;
    return 0;
}

static int sync_wal(wal_sync_t *self)
{
    if (!self->durable || self->wal_fd < 0)
        return 0;
    return fdatasync(self->wal_fd) < 0 ? errno : 0;
}

static void *sync_thread(void *arg)
{
    wal_sync_t *self = arg;
    pthread_mutex_lock(&self->lock);
    for (;;) {
        while (!self->requested && !self->stopping)
            pthread_cond_wait(&self->wake, &self->lock);
        if (!self->requested)
            break;
        self->requested = 0;
        pthread_mutex_unlock(&self->lock);
        int result = sync_wal(self);
        pthread_mutex_lock(&self->lock);
        self->result = result;
        uint64_t one = 1;
        if (write(self->done_fd, &one, sizeof one) < 0) {
            /* An eventfd write fails only on overflow, which one sync at a
             * time cannot reach. */
        }
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

wal_sync_t *wal_sync_new(const char *db_path, int durable, kl_error_t *err)
{
    wal_sync_t *self = calloc(1, sizeof *self);
    size_t size = strlen(db_path) + sizeof "-wal";
    if (self)
        self->wal_path = malloc(size);
    if (!self || !self->wal_path) {
        free(self);
        kl_error_set(err, KL_ERR_INTERNAL, "sqlite store: out of memory");
        return NULL;
    }
    snprintf(self->wal_path, size, "%s-wal", db_path);
    self->durable = durable;
    self->wal_fd = -1;
    self->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    if (self->done_fd < 0
        || (durable && pthread_create(&self->thread, NULL, sync_thread, self) != 0)) {
        kl_error_set(err, KL_ERR_INTERNAL, "sqlite store: cannot start its WAL sync thread: %s",
                     strerror(errno));
        wal_sync_destroy(&self);
        return NULL;
    }
    self->thread_started = durable;
    return self;
}

void wal_sync_destroy(wal_sync_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    wal_sync_t *self = *self_p;
    if (self->thread_started) {
        pthread_mutex_lock(&self->lock);
        self->stopping = 1;
        pthread_cond_signal(&self->wake);
        pthread_mutex_unlock(&self->lock);
        pthread_join(self->thread, NULL);  /* after the sync in flight, if any */
    }
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->wake);
    if (self->done_fd >= 0)
        close(self->done_fd);
    if (self->wal_fd >= 0)
        close(self->wal_fd);
    free(self->wal_path);
    free(self);
    *self_p = NULL;
}

int wal_sync_start(wal_sync_t *self, kl_error_t *err)
{
    if (wal_open(self, err) < 0)
        return -1;
    self->in_flight = 1;
    if (!self->thread_started) {
        self->result = 0;
        uint64_t one = 1;
        if (write(self->done_fd, &one, sizeof one) < 0) {
            /* cannot overflow: one at a time */
        }
        return 0;
    }
    pthread_mutex_lock(&self->lock);
    self->requested = 1;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    return 0;
}

int wal_sync_fd(const wal_sync_t *self)
{
    return self->done_fd;
}

int wal_sync_in_flight(const wal_sync_t *self)
{
    return self->in_flight;
}

int wal_sync_finish(wal_sync_t *self, kl_error_t *err)
{
    if (!self->in_flight)
        return 0;
    struct pollfd p = {self->done_fd, POLLIN, 0};
    uint64_t count;
    while (read(self->done_fd, &count, sizeof count) < 0) {
        if (errno != EAGAIN && errno != EINTR)
            break;
        poll(&p, 1, -1);
    }
    self->in_flight = 0;
    pthread_mutex_lock(&self->lock);
    int result = self->result;
    pthread_mutex_unlock(&self->lock);
    if (result)
        return kl_error_set(err, KL_ERR_UNAVAILABLE,
                            "sqlite store: syncing the write-ahead log %s failed: %s",
                            self->wal_path, strerror(result));
    return 0;
}

int wal_sync_now(wal_sync_t *self, kl_error_t *err)
{
    if (wal_open(self, err) < 0)
        return -1;
    int result = sync_wal(self);
    if (result)
        return kl_error_set(err, KL_ERR_UNAVAILABLE,
                            "sqlite store: syncing the write-ahead log %s failed: %s",
                            self->wal_path, strerror(result));
    return 0;
}
