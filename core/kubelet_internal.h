/* What the kubelet's files share: its state (nodes, pods, requests in
 * flight) and the functions one file calls in another. Internal to the core:
 * kubelet.c runs the actor, kubelet_pods.c the pods' containers,
 * kubelet_pod_set.c keeps the pod set and adopts left-over containers,
 * kubelet_logs.c serves logs, kubelet_nodes.c registers the nodes and keeps
 * their heartbeats and Leases, kubelet_report.c writes pod status,
 * kubelet_starts.c pulls and starts containers on worker threads for a
 * runtime that allows it. */
#ifndef KL_CORE_KUBELET_INTERNAL_H
#define KL_CORE_KUBELET_INTERNAL_H

#include <czmq.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <keelson/runtime.h>

#include "bus.h"
#include "kubelet.h"
#include "kubelet_events.h"
#include "kubelet_service.h"
#include "list_watch.h"
#include "loader.h"
#include "pod_status.h"

#define COMPONENT "kubelet"
#define API_TIMEOUT_MS 2000
#define API_QUIET_MS 1000        /* after a timeout, let the API breathe */
#define REGISTER_RETRY_MAX_MS 10000
#define DEFAULT_GRACE_MS 30000
#define SHUTDOWN_GRACE_MS 1000   /* per container when the kubelet itself stops */
#define ORPHAN_GRACE_MS 2000     /* containers of pods that are gone, found at start */
#define KILL_GIVE_UP_MS 10000    /* after SIGKILL, remove() regardless */
#define NODE_IN_FLIGHT_MAX 128   /* node requests pipelined at once */
#define NODE_REPLY_TIMEOUT_MS 5000
/* Pod status writes in flight at once. The loop never waits for one (heart-
 * beats, Events and the watch go on). Few, because each waits for the
 * store's group commit and what a kubelet keeps in flight is API server time
 * taken from binds and other writers; not one, because then status lags far
 * behind at scale. Measured with sim kubelets of 500-1,000 nodes each: one in
 * flight bound 2,300-2,800 pods/s at 5,000 nodes but showed a 10,000-replica
 * scale-up all Running only after 63 s; four bind 1,900-2,900 pods/s and
 * show it after 25-28 s; sixteen 22 s. */
#define STATUS_IN_FLIGHT_MAX 4
#define SERVICE_HELLO_MS 10000   /* re-register the service (the master may restart) */
#define LOGS_DEFAULT_BYTES (64 * 1024)
#define LOGS_MAX_BYTES (1024 * 1024)
#define NODE_ANNOTATION_SERVICE "keelson.io/kubelet-service"

typedef enum node_op {
    NODE_IDLE = 0,
    NODE_CREATING,
    NODE_GETTING,     /* it existed: fetch it to keep its metadata */
    NODE_REPLACING,   /* write our status over the existing one */
    NODE_HEARTBEAT
} node_op_t;

typedef enum lease_op {
    LEASE_IDLE = 0,
    LEASE_CREATING,
    LEASE_RENEWING
} lease_op_t;

/* One node this kubelet serves. Its API requests are pipelined. */
typedef struct knode {
    char *name;
    size_t index;
    json_t *object;          /* the Node as last written (or to register) */
    int registered;
    node_op_t op;            /* the request in flight */
    char request_key[32];    /* its id, the key in kubelet_t.node_requests */
    int64_t sent_ms;
    int64_t due_ms;          /* next registration attempt or heartbeat */
    int64_t retry_ms;
    int complaining;
    int announced;           /* Starting and NodeReady events sent */
    /* Its Lease kube-node-lease/<name>, renewed with every heartbeat; one
     * request at a time, on the same pipelined client as the node's. */
    lease_op_t lease_op;
    int lease_exists;        /* as far as the last reply said */
    char lease_request_key[32];
    int64_t lease_sent_ms;
    int lease_complaining;
} knode_t;

typedef struct kpod {
    char *key;  /* "namespace/name" */
    char *namespace_name;
    char *name;
    char *uid;
    knode_t *node;         /* borrowed: the node it is bound to */
    json_t *object;        /* the latest Pod seen */
    int64_t resource_version;
    kl_pod_track_t track;
    int valid;             /* track holds the pod's containers */
    int inert;             /* finished before this kubelet saw it: leave alone */
    zlistx_t *leftovers;   /* ids of adopted containers of an inert pod (strings) */
    json_t *reported;      /* the last status written */
    uint64_t reported_version;  /* kl_pod_track_version() of `reported` */
    int status_in_flight;  /* a status write awaits its reply */
    int refetch;           /* the last write conflicted: read the pod first */
    int urgent;            /* queued in kubelet_t.urgent */
    int64_t next_relist_ms;  /* when its running containers are read again */
    int64_t grace_ms;
    uint64_t generation;
    /* Per container (track.count entries, NULL until the first): the serial
     * of the kstart_job_t on a worker, 0 when none. */
    uint64_t *start_serial;
    size_t starts_in_flight;
} kpod_t;

/* A pod status write awaiting its reply on the pipelined client. The pod
 * may be gone or replaced by then, hence the key and uid. */
typedef struct kstatus_req {
    char *key;
    char *uid;
    json_t *status;          /* what was written */
    uint64_t version;        /* kl_pod_track_version() it was built from */
    int64_t sent_ms;
} kstatus_req_t;

/* A container on its way out: SIGTERM sent, SIGKILL when the grace ends. */
typedef struct kterm {
    char id[KL_CONTAINER_ID_MAX];
    char what[256];          /* "pod ns/name container c", for log lines */
    int64_t kill_at_ms;
    int64_t give_up_ms;      /* 0 until SIGKILL went out */
} kterm_t;

/* A container list() reported at start, waiting for the first pod list. */
typedef struct kfound {
    char *id, *pod_key, *pod_uid, *container_name;
    kl_container_status_t status;
} kfound_t;

/* A pull+start on a worker thread. It owns copies of all it reads, since
 * the pod may change or go meanwhile; the kubelet's thread applies the
 * outcome only while the pod's start_serial still names it. */
typedef struct kstart_job {
    struct kstart_job *next;     /* in the pool's queues */
    uint64_t serial;
    char *pod_key;
    size_t index;                /* the container's, in the pod's spec */
    json_t *pod;                 /* a deep copy */
    char *namespace_name, *pod_name, *pod_uid, *container_name, *image;
    kl_container_request_t request;  /* points into the copies above */
    int pull;                    /* pull() first, with `policy` */
    kl_pull_policy_t policy;
    /* The worker's results: */
    int pull_rc;
    kl_error_t pull_err;
    int64_t pull_began_ms, pull_ended_ms;
    int start_called;            /* 0: the pull failed or the kubelet is stopping */
    int start_rc;
    kl_error_t start_err;
    char id[KL_CONTAINER_ID_MAX];
    int64_t start_began_ms;
    int status_called;           /* status() right after a good start */
    int status_rc;
    kl_container_status_t status;
    kl_error_t status_err;
    int64_t status_ms;
} kstart_job_t;

typedef struct kl_start_pool kl_start_pool_t;

typedef struct kubelet {
    kl_kubelet_config_t *config;
    kl_plugin_t *plugin;
    const kl_runtime_ops_t *runtime;
    void *runtime_state;
    int has_pull, has_list, has_logs, has_kill;
    int events_fd;               /* the runtime's exit notifications; -1: none */
    kl_start_pool_t *starts;     /* NULL: start() runs on this thread */
    int starts_fd;               /* readable when jobs have finished */
    size_t start_workers;
    uint64_t start_serial_last;
    char node_name[256];     /* the base name */
    int64_t cpu_milli;
    int64_t memory_bytes;
    int64_t max_pods;
    int heartbeat_ms;
    int sync_ms;
    int relist_ms;
    char runtime_version[128];
    kl_bus_client_t *api;        /* synchronous pod requests */
    kl_bus_client_t *node_api;   /* pipelined node requests */
    kl_list_watch_t *watch;
    kl_kubelet_service_t *service;
    char service_name[300];
    int64_t next_hello_ms;
    size_t node_count;
    knode_t *nodes;              /* node_count entries */
    zhashx_t *node_by_name;      /* name -> knode_t (borrowed) */
    zhashx_t *node_requests;     /* request id -> knode_t (borrowed) */
    zhashx_t *lease_requests;    /* request id -> knode_t (borrowed) */
    int lease_duration_s;
    kl_kubelet_events_t *events; /* on node_api; NULL only when out of memory */
    size_t node_in_flight;
    zhashx_t *pods;        /* key -> kpod_t (owned) */
    zlistx_t *urgent;      /* keys of pods to sync before the next tick (owned) */
    zhashx_t *status_requests;   /* request id -> kstatus_req_t (owned) */
    zlistx_t *terminating; /* kterm_t (owned) */
    zlistx_t *found;       /* kfound_t (owned); NULL once adoption is done */
    uint64_t generation;
    int64_t next_sync_ms;
    int64_t api_quiet_until_ms;
} kubelet_t;

static inline int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t resource_version_of(const json_t *object)
{
    const char *rv = json_string_value(json_object_get(json_object_get(object, "metadata"),
                                                       "resourceVersion"));
    return rv ? strtoll(rv, NULL, 10) : 0;
}

/* kubelet.c */
json_t *kl_kubelet_api_request(kubelet_t *self, const char *method, json_t *payload, kl_error_t *err);

/* kubelet_pods.c: each pod's containers through the runtime, and the sync
 * that polls and (re)starts them. `what` names a container in log lines. */
void kl_kubelet_container_remove(kubelet_t *self, const char *what, const char *id);
/* A grace_ms below 0 removes the container without stopping it first. */
void kl_kubelet_container_terminate(kubelet_t *self, const char *what, const char *id,
                                    int grace_ms);
void kl_kubelet_terminating_step(kubelet_t *self, int64_t now);
void kl_kubelet_pod_kill(kubelet_t *self, kpod_t *pod, int grace_ms);
/* Records Killing Events, stops the pod's containers and drops the pod. */
void kl_kubelet_pod_forget(kubelet_t *self, kpod_t *pod, int grace_ms);
/* relist: read its running containers' state now, not when next due. */
void kl_kubelet_pod_sync(kubelet_t *self, kpod_t *pod, int64_t now, int relist);
void kl_kubelet_urgent_step(kubelet_t *self, int64_t now);
/* Applies what the start workers finished; `stopping`: refresh no pod. */
void kl_kubelet_start_results_take(kubelet_t *self, int stopping);
void kl_kubelet_runtime_events_read(kubelet_t *self);

/* kubelet_pod_set.c: the pods of this kubelet's nodes as the watch reports
 * them, and adoption of the containers list() found at start. */
void kl_kubelet_pod_destructor(void **item);
void kl_kubelet_free_destructor(void **item);
void kl_kubelet_found_destructor(void **item);
int kl_kubelet_on_container_found(const kl_container_info_t *info, void *arg);
void kl_kubelet_on_pod_list(json_t *items, void *arg);
void kl_kubelet_on_pod_event(const char *type, json_t *object, void *arg);

/* kubelet_logs.c: the kubelet-<node>.logs service's requests. */
json_t *kl_kubelet_serve_request(const char *method, const json_t *payload, void *arg,
                                 kl_error_t *err);

/* kubelet_nodes.c: the nodes this kubelet serves, their registration,
 * status heartbeats and Leases, all on the pipelined client. */
int kl_kubelet_nodes_setup(kubelet_t *self, kl_kubelet_config_t *config, kl_error_t *err);
/* Handles every reply that arrived on the pipelined client (nodes, Leases,
 * pod status writes, Events). */
void kl_kubelet_nodes_receive(kubelet_t *self);
/* Sends the registrations and heartbeats that are due; ms until the next. */
int64_t kl_kubelet_nodes_step(kubelet_t *self, int64_t now);
/* Keeps nodes alive while a fallback stop() blocks the loop. */
void kl_kubelet_nodes_pump(kubelet_t *self);

/* kubelet_report.c: pod status writes. */
void kl_kubelet_pod_mark_urgent(kubelet_t *self, kpod_t *pod);
void kl_kubelet_status_req_destructor(void **item);
void kl_kubelet_pod_report(kubelet_t *self, kpod_t *pod, int64_t now);
/* 1 when request `id_text` was a status write (then `reply` is released). */
int kl_kubelet_status_reply(kubelet_t *self, const char *id_text, json_t *reply, const kl_error_t *err);
void kl_kubelet_status_expire(kubelet_t *self, int64_t now);

/* kubelet_starts.c: pull+start on a bounded pool of worker threads. */
kl_start_pool_t *kl_start_pool_new(const kl_runtime_ops_t *runtime, void *runtime_state,
                                   size_t workers, kl_error_t *err);
/* Readable when finished jobs wait for kl_start_pool_take(). */
int kl_start_pool_fd(const kl_start_pool_t *pool);
/* Hands `job` to a worker; the pool owns it until it is taken back. */
void kl_start_pool_submit(kl_start_pool_t *pool, kstart_job_t *job);
/* The finished jobs (a list through `next`, caller owns them), or NULL. */
kstart_job_t *kl_start_pool_take(kl_start_pool_t *pool);
/* Drops the jobs no worker began and waits for those under way, which
 * kl_start_pool_take() then returns. */
void kl_start_pool_stop(kl_start_pool_t *pool);
/* Stops the pool if needed and frees it with any jobs it still holds. */
void kl_start_pool_destroy(kl_start_pool_t **pool_p);
/* A job for container `index` of `pod`: NULL when out of memory. */
kstart_job_t *kl_start_job_new(const kpod_t *pod, size_t index);
void kl_start_job_free(kstart_job_t **job_p);

#endif
