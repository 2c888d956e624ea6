/* The random scheduler: places each pod on a uniformly random feasible node.
 * The `seed` setting makes a run reproducible; without it every start draws
 * a different sequence. */
#include <stdlib.h>
#include <keelson/scheduler.h>

typedef struct random_state {
    uint64_t next;  /* splitmix64 counter */
} random_state_t;

static const kl_setting_spec_t random_settings[] = {
    {"seed", KL_SETTING_INT, 0, "seed of the node choice, for reproducible runs"},
    KL_SETTINGS_END,
};

/* splitmix64: tiny, fast, and every seed (0 included) gives a good stream. */
static uint64_t random_draw(random_state_t *self)
{
    uint64_t z = (self->next += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void *random_open(const kl_host_t *host, kl_error_t *err)
{
    random_state_t *self = calloc(1, sizeof *self);
    if (!self) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory opening the random scheduler");
        return NULL;
    }
    /* Two fallbacks tell an absent seed from a seed equal to either. */
    long long seed = host->setting_int(host, "seed", 0);
    if (seed == 0 && host->setting_int(host, "seed", 1) == 1) {
        seed = (long long)host->realtime_ms(host) ^ ((long long)host->monotonic_ms(host) << 20)
               ^ (long long)(uintptr_t)self;
        host->log(host, KL_LOG_DEBUG, "no seed set; drawing from seed %lld", seed);
    }
    self->next = (uint64_t)seed;
    return self;
}

static void random_close(void *state)
{
    free(state);
}

static int random_select(void *state, const kl_sched_pod_t *pod,
                         const kl_sched_node_t *const *nodes, size_t node_count, kl_error_t *err)
{
    (void)pod;
    (void)nodes;
    if (node_count == 0)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "no feasible node was offered");
    /* Multiply-high maps 64 random bits onto 0..node_count-1 with a bias of
     * at most node_count / 2^64: nothing a test or a cluster could see. */
    unsigned __int128 wide = (unsigned __int128)random_draw(state) * node_count;
    return (int)(wide >> 64);
}

static const kl_scheduler_ops_t random_ops = {
    .open = random_open,
    .close = random_close,
    .select = random_select,
};

KL_SCHEDULER_PLUGIN("random", "1.0.0", "uniformly random feasible node", random_settings,
                    random_ops);
