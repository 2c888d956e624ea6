/* Bus round trip: a client asks an echo service through the broker, over
 * inproc and over tcp loopback; reports p50/p99 latency of sequential
 * requests and the throughput of pipelined ones. Baseline: the same echo
 * over a bare ZeroMQ REQ/REP pair with no broker in between. */
#include <czmq.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "bus.h"
#include "log.h"

#define WARMUP 2000

static void echo(kl_bus_request_t *req, void *arg)
{
    (void)arg;
    kl_bus_request_respond(&req, json_incref((json_t *)kl_bus_request_payload(req)), NULL);
}

static void echo_actor(zsock_t *pipe, void *args)
{
    kl_error_t err;
    kl_bus_service_t *svc = kl_bus_service_new("inproc://bench-bus", "echo", &err);
    zsock_signal(pipe, 0);
    if (svc)
        kl_bus_service_run(svc, pipe, echo, NULL, 0, NULL);
    kl_bus_service_destroy(&svc);
}

static void raw_echo_actor(zsock_t *pipe, void *args)
{
    zsock_t *rep = zsock_new_rep((const char *)args);
    zsock_signal(pipe, 0);
    zpoller_t *poller = zpoller_new(pipe, rep, NULL);
    while (1) {
        void *which = zpoller_wait(poller, -1);
        if (which != rep)
            break;
        zmsg_t *msg = zmsg_recv(rep);
        zmsg_send(&msg, rep);
    }
    zpoller_destroy(&poller);
    zsock_destroy(&rep);
}

/* A bare zmq_proxy between REQ and REP: the same three threads and four
 * hops as the keelson broker path, with no protocol or JSON work. */
static void proxy_actor(zsock_t *pipe, void *args)
{
    zsock_t *front = zsock_new_router("inproc://bench-proxy-front");
    zsock_t *back = zsock_new_dealer("@inproc://bench-proxy-back");
    zsock_signal(pipe, 0);
    zmq_pollitem_t items[3] = {{zsock_resolve(pipe), 0, ZMQ_POLLIN, 0},
                               {zsock_resolve(front), 0, ZMQ_POLLIN, 0},
                               {zsock_resolve(back), 0, ZMQ_POLLIN, 0}};
    while (zmq_poll(items, 3, -1) >= 0 && !(items[0].revents & ZMQ_POLLIN)) {
        if (items[1].revents & ZMQ_POLLIN) {
            zmsg_t *m = zmsg_recv(front);
            zmsg_send(&m, back);
        }
        if (items[2].revents & ZMQ_POLLIN) {
            zmsg_t *m = zmsg_recv(back);
            zmsg_send(&m, front);
        }
    }
    zsock_destroy(&front);
    zsock_destroy(&back);
}

static void report(const char *name, int64_t *samples, size_t n, double rate)
{
    int64_t p50 = bench_percentile(samples, n, 50), p99 = bench_percentile(samples, n, 99);
    printf("%-28s p50 %7.1f us   p99 %7.1f us", name, p50 / 1000.0, p99 / 1000.0);
    if (rate > 0)
        printf("   pipelined %9.0f req/s", rate);
    printf("\n");
}

static void run_bus(const char *name, const char *endpoint, int count)
{
    kl_error_t err;
    kl_bus_client_t *c = kl_bus_client_new(endpoint, &err);
    json_t *payload = json_pack("{s:s,s:s}", "kind", "Pod", "name", "bench-pod-000001");
    int64_t *samples = calloc((size_t)count, sizeof *samples);
    for (int i = 0; i < WARMUP; i++)
        json_decref(kl_bus_request(c, "echo.x", payload, 5000, &err));
    for (int i = 0; i < count; i++) {
        int64_t t0 = bench_now_ns();
        json_t *r = kl_bus_request(c, "echo.x", payload, 5000, &err);
        samples[i] = bench_now_ns() - t0;
        json_decref(r);
    }
    /* Pipelined: a window of 256 requests in flight. */
    int64_t t0 = bench_now_ns();
    int sent = 0, received = 0, window = 256;
    while (received < count) {
        while (sent < count && sent - received < window) {
            kl_bus_send(c, "echo.x", payload, NULL, &err);
            sent++;
        }
        json_t *r = kl_bus_recv(c, NULL, 5000, &err);
        if (!r && err.code == KL_ERR_TIMEOUT)
            break;
        json_decref(r);
        received++;
    }
    double rate = received / ((bench_now_ns() - t0) / 1e9);
    report(name, samples, (size_t)count, rate);
    free(samples);
    json_decref(payload);
    kl_bus_client_destroy(&c);
}

/* A negative count means: the echo server connects to `endpoint` (behind a
 * proxy) and the client talks to the proxy's front. */
static void run_raw(const char *name, const char *endpoint, int count)
{
    int behind_proxy = count < 0;
    if (behind_proxy)
        count = -count;
    zactor_t *server = zactor_new(raw_echo_actor, (void *)endpoint);
    zsock_t *req = zsock_new_req(behind_proxy ? "inproc://bench-proxy-front" : endpoint);
    const char *body = "{\"kind\":\"Pod\",\"name\":\"bench-pod-000001\"}";
    int64_t *samples = calloc((size_t)count, sizeof *samples);
    for (int i = 0; i < WARMUP; i++) {
        zstr_send(req, body);
        free(zstr_recv(req));
    }
    for (int i = 0; i < count; i++) {
        int64_t t0 = bench_now_ns();
        zstr_send(req, body);
        free(zstr_recv(req));
        samples[i] = bench_now_ns() - t0;
    }
    report(name, samples, (size_t)count, 0);
    free(samples);
    zsock_destroy(&req);
    zactor_destroy(&server);
}

int main(int argc, char **argv)
{
    zsys_handler_set(NULL);
    kl_log_set_level(KL_LOG_ERROR);
    int count = argc > 1 ? atoi(argv[1]) : 20000;
    if (count < 100)
        count = 100;
    char tcp[64];
    snprintf(tcp, sizeof tcp, "tcp://127.0.0.1:%d", 40000 + (int)(getpid() % 10000));
    kl_error_t err;
    kl_broker_t *broker = kl_broker_new((const char *[]){"inproc://bench-bus", tcp, NULL}, NULL, &err);
    if (!broker) {
        fprintf(stderr, "bus_latency: %s\n", err.text);
        return 1;
    }
    zactor_t *service = zactor_new(echo_actor, NULL);
    printf("bus round trip, %d sequential requests each (plus %d warm-up)\n", count, WARMUP);
    run_bus("keelson bus, inproc", "inproc://bench-bus", count);
    run_bus("keelson bus, tcp loopback", tcp, count);
    char raw_tcp[64];
    snprintf(raw_tcp, sizeof raw_tcp, "tcp://127.0.0.1:%d", 50000 + (int)(getpid() % 10000));
    run_raw("baseline: bare zmq, inproc", "inproc://bench-raw", count);
    zactor_t *proxy = zactor_new(proxy_actor, NULL);
    run_raw("baseline: zmq proxy, inproc", ">inproc://bench-proxy-back", -count);
    zactor_destroy(&proxy);
    run_raw("baseline: bare zmq, tcp", raw_tcp, count);
    zactor_destroy(&service);
    kl_broker_destroy(&broker);
    return 0;
}
