/* A controller's loop blocks in the plugin, so it gets a plain thread rather
 * than a bus actor; it stops when host->stopping() turns true. */
#include <pthread.h>
#include <stdlib.h>

#include "controller_host.h"
#include "log.h"
#include "plugin_guard.h"
#include "threads.h"

struct kl_controller_host {
    kl_plugin_t *plugin;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t opened_cond;
    int opened;  /* 0 waiting, 1 ok, -1 failed */
    kl_error_t error;
};

typedef struct run_call {
    kl_plugin_t *plugin;
    kl_error_t err;
    int rc;
} run_call_t;

static void run_guarded(void *arg)
{
    run_call_t *call = arg;
    const kl_controller_ops_t *ops = call->plugin->ops;
    call->rc = ops->run(call->plugin->state, &call->err);
}

static void *controller_thread(void *arg)
{
    kl_controller_host_t *self = arg;
    char name[32];
    snprintf(name, sizeof name, "kl-%s", self->plugin->desc->name);
    kl_thread_begin(name, KL_THREAD_CONTROL);
    kl_error_t err;
    kl_error_clear(&err);
    int rc = kl_plugin_open(self->plugin, &err);
    pthread_mutex_lock(&self->lock);
    self->opened = rc < 0 ? -1 : 1;
    self->error = err;
    pthread_cond_signal(&self->opened_cond);
    pthread_mutex_unlock(&self->lock);
    if (rc < 0)
        return NULL;
    /* A controller that crashes stops alone: the daemon and the other
     * controllers go on. Its state may be half-changed, so it is not
     * closed. */
    run_call_t call = {self->plugin, {0, ""}, 0};
    int sig = kl_guard_run(run_guarded, &call);
    if (sig) {
        kl_error_log(self->plugin->label, "controller crashed in run() (%s) and is stopped; the "
                     "rest of keelsond goes on", kl_guard_signal_text(sig));
        self->plugin->state = NULL;
        return NULL;
    }
    if (call.rc < 0)
        kl_error_log(self->plugin->label, "controller stopped: %s", call.err.text);
    kl_plugin_close(self->plugin);
    return NULL;
}

kl_controller_host_t *kl_controller_host_new(kl_plugin_t *plugin, kl_error_t *err)
{
    kl_controller_host_t *self = calloc(1, sizeof *self);
    self->plugin = plugin;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->opened_cond, NULL);
    if (pthread_create(&self->thread, NULL, controller_thread, self) != 0) {
        kl_error_set(err, KL_ERR_INTERNAL, "cannot start a thread for %s", plugin->label);
        free(self);
        return NULL;
    }
    pthread_mutex_lock(&self->lock);
    while (self->opened == 0)
        pthread_cond_wait(&self->opened_cond, &self->lock);
    pthread_mutex_unlock(&self->lock);
    if (self->opened < 0) {
        if (err)
            *err = self->error;
        pthread_join(self->thread, NULL);
        pthread_mutex_destroy(&self->lock);
        pthread_cond_destroy(&self->opened_cond);
        free(self);
        return NULL;
    }
    return self;
}

void kl_controller_host_destroy(kl_controller_host_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kl_controller_host_t *self = *self_p;
    kl_plugin_request_stop(self->plugin);
    pthread_join(self->thread, NULL);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->opened_cond);
    free(self);
    *self_p = NULL;
}
