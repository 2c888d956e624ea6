/* The kubelet's start workers: a few threads that pull images and start
 * containers for a runtime that declared KL_RUNTIME_CONCURRENT_STARTS, so a
 * burst of pods is not started one engine round trip after another. Jobs
 * come from the kubelet's thread and go back to it through a pipe its loop
 * polls; only the kubelet's thread touches pods, Events and status. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "kubelet_internal.h"
#include "log.h"
#include "threads.h"

struct kl_start_pool {
    const kl_runtime_ops_t *runtime;
    void *runtime_state;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    kstart_job_t *queue, *queue_tail;  /* waiting for a worker */
    kstart_job_t *done, *done_tail;    /* finished, for the kubelet's thread */
    atomic_int stopping;
    int pipe_fds[2];                   /* a byte per finished job */
    pthread_t *threads;
    size_t thread_count;
    int lock_ready, wake_ready;
};

static char *copy_of(const char *text)
{
    return strdup(text ? text : "");
}

kstart_job_t *kl_start_job_new(const kpod_t *pod, size_t index)
{
    kstart_job_t *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    const kl_container_track_t *c = &pod->track.containers[index];
    job->index = index;
    job->pod = json_deep_copy(pod->object);
    job->pod_key = copy_of(pod->key);
    job->namespace_name = copy_of(pod->namespace_name);
    job->pod_name = copy_of(pod->name);
    job->pod_uid = copy_of(pod->uid);
    job->container_name = copy_of(c->name);
    job->image = copy_of(c->image);
    if (!job->pod || !job->pod_key || !job->namespace_name || !job->pod_name || !job->pod_uid
        || !job->container_name || !job->image) {
        kl_start_job_free(&job);
        return NULL;
    }
    job->request = (kl_container_request_t){
        .pod_namespace = job->namespace_name, .pod_name = job->pod_name,
        .pod_uid = job->pod_uid, .container_name = job->container_name,
        .container = json_array_get(json_object_get(json_object_get(job->pod, "spec"),
                                                    "containers"), index),
        .pod = job->pod,
    };
    return job;
}

void kl_start_job_free(kstart_job_t **job_p)
{
    kstart_job_t *job = *job_p;
    if (!job)
        return;
    json_decref(job->pod);
    free(job->pod_key);
    free(job->namespace_name);
    free(job->pod_name);
    free(job->pod_uid);
    free(job->container_name);
    free(job->image);
    free(job);
    *job_p = NULL;
}

/* pull(), then start(), then status() of what started, as the kubelet's
 * own thread does them one after another for a runtime without workers. */
static void job_run(kl_start_pool_t *pool, kstart_job_t *job)
{
    if (job->pull) {
        kl_error_clear(&job->pull_err);
        job->pull_began_ms = now_ms();
        job->pull_rc = pool->runtime->pull(pool->runtime_state, job->image, job->policy,
                                           &job->pull_err);
        job->pull_ended_ms = now_ms();
        if (job->pull_rc != 0 && job->pull_rc != KL_PULL_PRESENT)
            return;
    }
    /* A kubelet on its way out starts nothing more; it still hears of
     * what began. */
    if (atomic_load(&pool->stopping))
        return;
    job->start_called = 1;
    kl_error_clear(&job->start_err);
    job->start_began_ms = now_ms();
    job->start_rc = pool->runtime->start(pool->runtime_state, &job->request, job->id,
                                         &job->start_err);
    job->id[KL_CONTAINER_ID_MAX - 1] = '\0';
    if (job->start_rc < 0 || !job->id[0])
        return;
    job->status_called = 1;
    kl_error_clear(&job->status_err);
    job->status_rc = pool->runtime->status(pool->runtime_state, job->id, &job->status,
                                           &job->status_err);
    job->status_ms = now_ms();
}

static void *worker_main(void *arg)
{
    kl_start_pool_t *pool = arg;
    kl_thread_begin("kl-starts", KL_THREAD_PLAIN);
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->queue && !atomic_load(&pool->stopping))
            pthread_cond_wait(&pool->wake, &pool->lock);
        if (atomic_load(&pool->stopping))
            break;  /* what is still queued never began: stop() drops it */
        kstart_job_t *job = pool->queue;
        pool->queue = job->next;
        if (!pool->queue)
            pool->queue_tail = NULL;
        job->next = NULL;
        pthread_mutex_unlock(&pool->lock);

        job_run(pool, job);

        pthread_mutex_lock(&pool->lock);
        if (pool->done_tail)
            pool->done_tail->next = job;
        else
            pool->done = job;
        pool->done_tail = job;
        /* After the job is listed, so the kubelet never drains this byte
         * and then misses the job. A full pipe is readable already. */
        char byte = 1;
        ssize_t written = write(pool->pipe_fds[1], &byte, 1);
        (void)written;
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

kl_start_pool_t *kl_start_pool_new(const kl_runtime_ops_t *runtime, void *runtime_state,
                                   size_t workers, kl_error_t *err)
{
    kl_start_pool_t *pool = calloc(1, sizeof *pool);
    if (!pool) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory for the kubelet's start workers");
        return NULL;
    }
    pool->runtime = runtime;
    pool->runtime_state = runtime_state;
    pool->pipe_fds[0] = pool->pipe_fds[1] = -1;
    atomic_init(&pool->stopping, 0);
    pool->threads = calloc(workers, sizeof *pool->threads);
    int rc = pool->threads ? pthread_mutex_init(&pool->lock, NULL) : ENOMEM;
    if (rc == 0) {
        pool->lock_ready = 1;
        rc = pthread_cond_init(&pool->wake, NULL);
    }
    if (rc != 0) {
        kl_error_set(err, KL_ERR_INTERNAL, "cannot set up the kubelet's start workers: %s",
                     strerror(rc));
        kl_start_pool_destroy(&pool);
        return NULL;
    }
    pool->wake_ready = 1;
    if (pipe2(pool->pipe_fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        kl_error_set(err, KL_ERR_INTERNAL, "cannot create the start workers' pipe: %s",
                     strerror(errno));
        kl_start_pool_destroy(&pool);
        return NULL;
    }
    for (size_t i = 0; i < workers; i++) {
        rc = pthread_create(&pool->threads[i], NULL, worker_main, pool);
        if (rc != 0) {
            kl_error_set(err, KL_ERR_INTERNAL, "cannot start kubelet start worker %zu of %zu: %s",
                         i + 1, workers, strerror(rc));
            kl_start_pool_destroy(&pool);
            return NULL;
        }
        pool->thread_count++;
    }
    return pool;
}

int kl_start_pool_fd(const kl_start_pool_t *pool)
{
    return pool->pipe_fds[0];
}

void kl_start_pool_submit(kl_start_pool_t *pool, kstart_job_t *job)
{
    job->next = NULL;
    pthread_mutex_lock(&pool->lock);
    if (pool->queue_tail)
        pool->queue_tail->next = job;
    else
        pool->queue = job;
    pool->queue_tail = job;
    pthread_cond_signal(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
}

kstart_job_t *kl_start_pool_take(kl_start_pool_t *pool)
{
    char bytes[256];
    while (read(pool->pipe_fds[0], bytes, sizeof bytes) > 0) {
    }
    pthread_mutex_lock(&pool->lock);
    kstart_job_t *jobs = pool->done;
    pool->done = pool->done_tail = NULL;
    pthread_mutex_unlock(&pool->lock);
    return jobs;
}

static void free_list(kstart_job_t *job)
{
    while (job) {
        kstart_job_t *next = job->next;
        kl_start_job_free(&job);
        job = next;
    }
}

void kl_start_pool_stop(kl_start_pool_t *pool)
{
    if (!pool->lock_ready || !pool->wake_ready)
        return;
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->stopping, 1);
    kstart_job_t *never_began = pool->queue;
    pool->queue = pool->queue_tail = NULL;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    free_list(never_began);
    for (size_t i = 0; i < pool->thread_count; i++)
        pthread_join(pool->threads[i], NULL);
    pool->thread_count = 0;
}

void kl_start_pool_destroy(kl_start_pool_t **pool_p)
{
    kl_start_pool_t *pool = *pool_p;
    if (!pool)
        return;
    kl_start_pool_stop(pool);
    free_list(pool->queue);
    free_list(pool->done);
    if (pool->wake_ready)
        pthread_cond_destroy(&pool->wake);
    if (pool->lock_ready)
        pthread_mutex_destroy(&pool->lock);
    for (int i = 0; i < 2; i++)
        if (pool->pipe_fds[i] >= 0)
            close(pool->pipe_fds[i]);
    free(pool->threads);
    free(pool);
    *pool_p = NULL;
}
