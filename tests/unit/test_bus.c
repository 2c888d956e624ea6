/* Bus tests: routing, errors, deferred replies, pub/sub, and a broker that
 * survives malformed and oversized frames. */
#include <czmq.h>
#include <stdatomic.h>
#include <unistd.h>

#include "bus.h"
#include "log.h"
#include "tap.h"

static char tcp_endpoint[64], event_endpoint[64];
static kl_bus_request_t *parked;  /* a deferred request held by the echo service */

static const char *worker_names[8];
static kl_bus_service_t *worker_services[8];

static const char *svc_name(kl_bus_service_t *svc)
{
    for (int i = 0; i < 8; i++)
        if (worker_services[i] == svc)
            return worker_names[i];
    return "?";
}

/* echo.*: replies with the payload; echo.fail replies NotFound; echo.park
 * holds the request until echo.release answers it; echo.ignore never replies. */
static void echo_handler(kl_bus_request_t *req, void *arg)
{
    kl_bus_service_t *svc = arg;
    const char *method = kl_bus_request_method(req);
    if (strcmp(method, "fail") == 0) {
        kl_error_t err;
        kl_error_set(&err, KL_ERR_NOT_FOUND, "pods \"x\" not found");
        kl_bus_request_respond(&req, NULL, &err);
    } else if (strcmp(method, "park") == 0) {
        parked = req;
    } else if (strcmp(method, "release") == 0) {
        kl_bus_request_respond(&parked, json_pack("{s:b}", "released", 1), NULL);
        kl_bus_request_respond(&req, NULL, NULL);
    } else if (strcmp(method, "ignore") == 0) {
        kl_bus_request_respond(&req, NULL, NULL);  /* answered, but only after the client gave up */
    } else if (strcmp(method, "who") == 0) {
        kl_bus_request_respond(&req, json_pack("{s:s}", "worker", (const char *)svc_name(svc)), NULL);
    } else if (strcmp(method, "subscribed") == 0) {
        kl_bus_request_respond(&req, json_pack("{s:b}", "subscribed",
                                               kl_bus_service_has_subscribers(svc, "test.topic")),
                               NULL);
    } else if (strcmp(method, "publish") == 0) {
        kl_bus_service_publish(svc, "test.topic", kl_bus_request_payload(req));
        kl_bus_request_respond(&req, NULL, NULL);
    } else {
        kl_bus_request_respond(&req, json_deep_copy(kl_bus_request_payload(req)), NULL);
    }
}

static void echo_actor(zsock_t *pipe, void *args)
{
    kl_error_t err;
    kl_bus_service_t *svc = kl_bus_service_new("inproc://test-bus", "echo", &err);
    for (int i = 0; i < 8; i++)
        if (!worker_services[i]) {
            worker_services[i] = svc;
            worker_names[i] = args ? (const char *)args : "first";
            break;
        }
    zsock_signal(pipe, 0);
    if (!svc)
        return;
    kl_bus_service_run(svc, pipe, echo_handler, NULL, 0, svc);
    kl_bus_request_respond(&parked, NULL, NULL);
    kl_bus_service_destroy(&svc);
}

/* wake.*: a service that also waits on a pipe while `wake_listening` is
 * set, counting each byte it reads from it. */
static int wake_pipe[2] = {-1, -1};
static atomic_int wake_listening, wake_reads;

static int wake_fd_now(void *arg)
{
    (void)arg;
    return atomic_load(&wake_listening) ? wake_pipe[0] : -1;
}

static void wake_ready(void *arg)
{
    (void)arg;
    char byte;
    if (read(wake_pipe[0], &byte, 1) == 1)
        atomic_fetch_add(&wake_reads, 1);
}

/* A second descriptor beside it, always waited on. */
static int second_pipe[2] = {-1, -1};
static atomic_int second_reads, extra_refused;

static int second_fd_now(void *arg)
{
    (void)arg;
    return second_pipe[0];
}

static void second_ready(void *arg)
{
    (void)arg;
    char byte;
    if (read(second_pipe[0], &byte, 1) == 1)
        atomic_fetch_add(&second_reads, 1);
}

static int never_fd(void *arg)
{
    (void)arg;
    return -1;
}

static void wake_handler(kl_bus_request_t *req, void *arg)
{
    (void)arg;
    kl_bus_request_respond(&req, json_pack("{s:i}", "reads", atomic_load(&wake_reads)), NULL);
}

static void wake_actor(zsock_t *pipe, void *args)
{
    (void)args;
    kl_error_t err;
    kl_bus_service_t *svc = kl_bus_service_new("inproc://test-bus", "wake", &err);
    zsock_signal(pipe, 0);
    if (!svc)
        return;
    kl_bus_service_add_extra_fd(svc, wake_fd_now, wake_ready, NULL);
    kl_bus_service_add_extra_fd(svc, second_fd_now, second_ready, NULL);
    /* Room for KL_BUS_EXTRA_FDS in all: the one after is refused. */
    for (int i = 2; i < KL_BUS_EXTRA_FDS; i++)
        kl_bus_service_add_extra_fd(svc, never_fd, second_ready, NULL);
    atomic_store(&extra_refused, kl_bus_service_add_extra_fd(svc, never_fd, second_ready, NULL) < 0);
    kl_bus_service_run(svc, pipe, wake_handler, NULL, 0, NULL);
    kl_bus_service_destroy(&svc);
}

static int wait_reads(int wanted, int ms)
{
    for (int waited = 0; waited < ms && atomic_load(&wake_reads) < wanted; waited += 5)
        usleep(5000);
    return atomic_load(&wake_reads);
}

/* The request loop waits on an extra descriptor only while its owner asks. */
static void test_extra_fd(kl_bus_client_t *client)
{
    if (!ok(pipe(wake_pipe) == 0 && pipe(second_pipe) == 0, "pipes for two extra descriptors"))
        return;
    atomic_store(&wake_listening, 1);
    zactor_t *wake = zactor_new(wake_actor, NULL);
    kl_error_t err;
    json_t *reply = kl_bus_request(client, "wake.count", NULL, 2000, &err);
    ok(reply != NULL, "the service with an extra descriptor answers requests %s", reply ? "" : err.text);
    json_decref(reply);
    if (write(wake_pipe[1], "x", 1) != 1)
        diag("writing to the pipe failed");
    is_int(wait_reads(1, 2000), 1, "a readable extra descriptor wakes the loop, which calls ready()");
    atomic_store(&wake_listening, 0);
    reply = kl_bus_request(client, "wake.count", NULL, 2000, &err);  /* a turn of the loop */
    json_decref(reply);
    if (write(wake_pipe[1], "y", 1) != 1)
        diag("writing to the pipe failed");
    is_int(wait_reads(2, 300), 1, "while fd_now() gives -1 the descriptor is not waited on");
    atomic_store(&wake_listening, 1);
    reply = kl_bus_request(client, "wake.count", NULL, 2000, &err);
    json_decref(reply);
    is_int(wait_reads(2, 2000), 2, "once it is asked for again, what waited there is read");
    if (write(second_pipe[1], "z", 1) != 1)
        diag("writing to the second pipe failed");
    for (int waited = 0; waited < 2000 && atomic_load(&second_reads) < 1; waited += 5)
        usleep(5000);
    ok(atomic_load(&second_reads) == 1 && atomic_load(&wake_reads) == 2,
       "the second descriptor wakes the loop too, and only its own ready() runs");
    ok(atomic_load(&extra_refused), "a descriptor past KL_BUS_EXTRA_FDS is refused");
    zactor_destroy(&wake);
    close(wake_pipe[0]);
    close(wake_pipe[1]);
    close(second_pipe[0]);
    close(second_pipe[1]);
}

static zsock_t *raw_dealer(void)
{
    zsock_t *s = zsock_new_dealer(tcp_endpoint);
    zsock_set_linger(s, 0);
    return s;
}

static int broker_alive(kl_bus_client_t *client)
{
    kl_error_t err;
    json_t *pong = kl_bus_request(client, "bus.ping", NULL, 2000, &err);
    int alive = pong && json_is_true(json_object_get(pong, "pong"));
    json_decref(pong);
    return alive;
}

int main(void)
{
    zsys_handler_set(NULL);
    kl_log_set_level(KL_LOG_ERROR);
    int port = 20000 + (int)(getpid() % 20000);
    snprintf(tcp_endpoint, sizeof tcp_endpoint, "tcp://127.0.0.1:%d", port);
    snprintf(event_endpoint, sizeof event_endpoint, "tcp://127.0.0.1:%d", port + 1);
    kl_error_t err;
    kl_broker_t *broker = kl_broker_new((const char *[]){"inproc://test-bus", tcp_endpoint, NULL},
                                        (const char *[]){"inproc://test-events", event_endpoint, NULL},
                                        &err);
    if (!ok(broker != NULL, "broker binds inproc and tcp endpoints"))
        return done_testing();

    kl_error_t bind_err;
    kl_broker_t *second = kl_broker_new((const char *[]){tcp_endpoint, NULL}, NULL, &bind_err);
    ok(second == NULL && strstr(bind_err.text, tcp_endpoint), "a second broker on the same port fails naming it: %s",
       bind_err.text);

    zactor_t *echo = zactor_new(echo_actor, NULL);
    kl_bus_client_t *inproc = kl_bus_client_new("inproc://test-bus", &err);
    kl_bus_client_t *tcp = kl_bus_client_new(tcp_endpoint, &err);
    ok(broker_alive(inproc), "bus.ping over inproc");
    ok(broker_alive(tcp), "bus.ping over tcp");

    json_t *services = kl_bus_request(tcp, "bus.services", NULL, 2000, &err);
    ok(services && json_array_size(json_object_get(services, "services")) == 1
           && strcmp(json_string_value(json_array_get(json_object_get(services, "services"), 0)), "echo") == 0,
       "bus.services lists the registered service");
    json_decref(services);

    json_t *payload = json_pack("{s:s, s:i}", "hello", "world", "n", 42);
    json_t *reply = kl_bus_request(tcp, "echo.say", payload, 2000, &err);
    ok(reply && json_equal(reply, payload), "request/reply through the broker returns the payload");
    json_decref(reply);

    reply = kl_bus_request(tcp, "echo.fail", payload, 2000, &err);
    ok(!reply && err.code == KL_ERR_NOT_FOUND && strcmp(err.text, "pods \"x\" not found") == 0,
       "an error reply keeps its code and message (%s)", err.text);

    reply = kl_bus_request(tcp, "nobody.home", payload, 2000, &err);
    ok(!reply && err.code == KL_ERR_UNAVAILABLE && strstr(err.text, "\"nobody\""),
       "unknown service gives ServiceUnavailable naming it (%s)", err.text);

    reply = kl_bus_request(tcp, "bus.nothing", NULL, 2000, &err);
    ok(!reply && err.code == KL_ERR_NOT_FOUND, "unknown bus method gives NotFound");

    /* Pipelining: replies are matched by request id. */
    uint64_t ids[50];
    int sent_ok = 1, matched = 0;
    for (int i = 0; i < 50; i++) {
        json_t *p = json_pack("{s:i}", "i", i);
        sent_ok &= kl_bus_send(tcp, "echo.n", p, &ids[i], &err) == 0;
        json_decref(p);
    }
    for (int i = 0; i < 50; i++) {
        uint64_t id;
        json_t *r = kl_bus_recv(tcp, &id, 2000, &err);
        if (r && id >= ids[0] && id <= ids[49]
            && json_integer_value(json_object_get(r, "i")) == (json_int_t)(id - ids[0]))
            matched++;
        json_decref(r);
    }
    ok(sent_ok && matched == 50, "50 pipelined requests all answered and matched by id (%d)", matched);

    /* Acknowledgement-only requests, mixed with ordinary ones: only theirs
     * come back without a body; an error still says why. */
    uint64_t ack_id = 0, full_id = 0, failed_ack_id = 0;
    json_t *said = json_pack("{s:s}", "word", "hello");
    int acks_sent = kl_bus_send_ack(tcp, "echo.say", said, &ack_id, &err) == 0
                    && kl_bus_send(tcp, "echo.say", said, &full_id, &err) == 0
                    && kl_bus_send_ack(tcp, "echo.fail", said, &failed_ack_id, &err) == 0;
    json_decref(said);
    int empty_ack = 0, full_body = 0, failed_ack = 0;
    for (int i = 0; i < 3; i++) {
        uint64_t id = 0;
        kl_error_t recv_err;
        kl_error_clear(&recv_err);
        json_t *r = kl_bus_recv(tcp, &id, 2000, &recv_err);
        if (id == ack_id && r && json_object_size(r) == 0)
            empty_ack = 1;
        if (id == full_id && r && json_object_get(r, "word"))
            full_body = 1;
        if (id == failed_ack_id && !r && recv_err.code == KL_ERR_NOT_FOUND)
            failed_ack = 1;
        json_decref(r);
    }
    ok(acks_sent && empty_ack && full_body && failed_ack,
       "an acknowledged request gets an empty object, others their body, a failed one its error "
       "(%d %d %d)", empty_ack, full_body, failed_ack);

    /* A deferred reply: parked by one request, answered by another. */
    uint64_t park_id;
    kl_bus_send(inproc, "echo.park", NULL, &park_id, &err);
    usleep(50000);
    reply = kl_bus_request(tcp, "echo.release", NULL, 2000, &err);
    json_decref(reply);
    uint64_t got;
    reply = kl_bus_recv(inproc, &got, 2000, &err);
    ok(reply && got == park_id && json_is_true(json_object_get(reply, "released")),
       "a deferred reply reaches the waiting client");
    json_decref(reply);

    reply = kl_bus_request(tcp, "echo.say", NULL, 0, &err);
    json_decref(reply);
    ok(err.code == KL_ERR_TIMEOUT || reply != NULL, "a zero timeout returns promptly");
    reply = kl_bus_request(tcp, "echo.say", payload, 2000, &err);
    ok(reply && json_equal(reply, payload), "a late reply to a timed-out request is not mistaken for the next");
    json_decref(reply);

    /* Publish/subscribe. With no subscriber the broker tells services so,
     * and they send nothing; a subscription changes that. */
    reply = kl_bus_request(tcp, "echo.subscribed", NULL, 2000, &err);
    ok(reply && json_is_false(json_object_get(reply, "subscribed")),
       "with nobody subscribed a service knows not to publish");
    json_decref(reply);
    kl_bus_subscriber_t *sub = kl_bus_subscriber_new(event_endpoint, "test.", &err);
    usleep(200000);  /* let the subscription reach the broker */
    reply = kl_bus_request(tcp, "echo.subscribed", NULL, 2000, &err);
    ok(reply && json_is_true(json_object_get(reply, "subscribed")),
       "a subscription to test. reaches the service through the broker");
    json_decref(reply);
    reply = kl_bus_request(tcp, "echo.publish", payload, 2000, &err);
    json_decref(reply);
    char topic[64] = "";
    json_t *event = kl_bus_subscriber_recv(sub, topic, sizeof topic, 2000, &err);
    ok(event && json_equal(event, payload) && strcmp(topic, "test.topic") == 0,
       "a published event reaches a tcp subscriber");
    json_decref(event);
    kl_bus_subscriber_destroy(&sub);
    int gone = 0;
    for (int i = 0; i < 40 && !gone; i++) {
        usleep(50000);
        reply = kl_bus_request(tcp, "echo.subscribed", NULL, 2000, &err);
        gone = reply && json_is_false(json_object_get(reply, "subscribed"));
        json_decref(reply);
    }
    ok(gone, "when the subscriber leaves, the service stops publishing");

    /* Malformed frames: each is dropped or answered; the broker keeps serving. */
    zsock_t *raw = raw_dealer();
    zstr_send(raw, "garbage");
    zstr_sendx(raw, "KLB9", "REQ", "echo.x", "1", "{}", NULL);
    zstr_sendx(raw, KL_BUS_PROTOCOL, "REQ", NULL);
    zstr_sendx(raw, KL_BUS_PROTOCOL, "REQ", "echo.x", NULL);
    zstr_sendx(raw, KL_BUS_PROTOCOL, "REQ", "noservicepart", "7", "{}", NULL);
    zstr_sendx(raw, KL_BUS_PROTOCOL, "REQ", "echo.x", "8", "{}", "extra", NULL);
    zstr_sendx(raw, KL_BUS_PROTOCOL, "REP", "bogus", NULL);
    zstr_sendx(raw, KL_BUS_PROTOCOL, "HELLO", "bad.name", "9", NULL);
    zstr_sendx(raw, KL_BUS_PROTOCOL, "WHAT", NULL);
    zstr_sendx(raw, KL_BUS_PROTOCOL, "REQ", "echo.x", "10", "not json", NULL);
    zstr_sendx(raw, KL_BUS_PROTOCOL, "REQ", "echo.x", "11", "[1,2]", NULL);
    int invalid_replies = 0;
    for (int i = 0; i < 10; i++) {
        zmsg_t *m = zmsg_recv_nowait(raw);
        if (!m) {
            usleep(50000);
            continue;
        }
        zframe_t *status = zmsg_first(m);
        for (int k = 0; k < 3 && status; k++)
            status = zmsg_next(m);
        if (status && zframe_streq(status, "1"))
            invalid_replies++;
        zmsg_destroy(&m);
    }
    ok(invalid_replies >= 5, "malformed requests that carry an id get Invalid replies (%d)", invalid_replies);
    ok(broker_alive(tcp), "broker still serves after malformed frames");

    /* Over the payload limit: refused with RequestEntityTooLarge. */
    size_t big = KL_BUS_MAX_PAYLOAD + 1024;
    char *text = malloc(big + 16);
    memset(text, 'a', big);
    memcpy(text, "{\"x\":\"", 6);
    memcpy(text + big - 2, "\"}", 2);
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, KL_BUS_PROTOCOL);
    zmsg_addstr(m, "REQ");
    zmsg_addstr(m, "echo.big");
    zmsg_addstr(m, "77");
    zmsg_addmem(m, text, big);
    zmsg_send(&m, raw);
    zmsg_t *answer = NULL;
    for (int i = 0; i < 40 && !answer; i++) {
        answer = zmsg_recv_nowait(raw);
        if (!answer)
            usleep(50000);
    }
    zframe_t *f = answer ? zmsg_first(answer) : NULL;
    for (int k = 0; k < 3 && f; k++)
        f = zmsg_next(answer);
    ok(f && zframe_streq(f, "9"), "a payload over 16 MiB gets RequestEntityTooLarge");
    zmsg_destroy(&answer);

    /* Far over the frame limit: ZeroMQ drops that connection only. */
    size_t huge = 40u * 1024 * 1024;
    text = realloc(text, huge);
    memset(text, 'b', huge);
    zsock_t *raw2 = raw_dealer();
    zmsg_t *hm = zmsg_new();
    zmsg_addstr(hm, KL_BUS_PROTOCOL);
    zmsg_addstr(hm, "REQ");
    zmsg_addstr(hm, "echo.huge");
    zmsg_addstr(hm, "78");
    zmsg_addmem(hm, text, huge);
    zmsg_send(&hm, raw2);
    free(text);
    usleep(300000);
    ok(broker_alive(tcp), "broker still serves after a 40 MiB frame");
    zsock_destroy(&raw);
    zsock_destroy(&raw2);

    /* A service that does not answer in time: Timeout, and the client recovers. */
    reply = kl_bus_request(tcp, "echo.park", NULL, 200, &err);
    ok(!reply && err.code == KL_ERR_TIMEOUT, "no reply in time gives Timeout (%s)", err.text);
    reply = kl_bus_request(tcp, "echo.release", NULL, 2000, &err);
    ok(reply != NULL, "client works after a timeout");
    json_decref(reply);

    /* Clients that cannot reach a broker time out with a clear error. */
    kl_bus_client_t *lost = kl_bus_client_new("tcp://127.0.0.1:1", &err);
    reply = kl_bus_request(lost, "bus.ping", NULL, 300, &err);
    ok(!reply && err.code == KL_ERR_TIMEOUT && strstr(err.text, "tcp://127.0.0.1:1"),
       "unreachable broker: timeout naming the endpoint (%s)", err.text);
    kl_bus_client_destroy(&lost);
    ok(kl_bus_client_new("bogus://x", &err) == NULL && err.code == KL_ERR_INVALID,
       "a malformed endpoint is refused (%s)", err.text);

    /* Two peers serving one name share its requests, and losing one leaves
     * the other serving. */
    zactor_t *second_echo = zactor_new(echo_actor, "second");
    int first_seen = 0, second_seen = 0;
    for (int i = 0; i < 10; i++) {
        reply = kl_bus_request(tcp, "echo.who", NULL, 2000, &err);
        const char *who = reply ? json_string_value(json_object_get(reply, "worker")) : "";
        first_seen += who && strcmp(who, "first") == 0;
        second_seen += who && strcmp(who, "second") == 0;
        json_decref(reply);
    }
    ok(first_seen == 5 && second_seen == 5, "two replicas of a service take requests in turn (%d/%d)",
       first_seen, second_seen);
    zactor_destroy(&second_echo);
    usleep(100000);
    int answered = 0;
    for (int i = 0; i < 4; i++) {
        reply = kl_bus_request(tcp, "echo.who", NULL, 2000, &err);
        answered += reply && strcmp(json_string_value(json_object_get(reply, "worker")), "first") == 0;
        json_decref(reply);
    }
    ok(answered == 4, "after one replica leaves, the other answers everything (%d/4)", answered);

    json_decref(payload);
    test_extra_fd(inproc);
    kl_bus_client_destroy(&inproc);
    kl_bus_client_destroy(&tcp);
    zactor_destroy(&echo);
    kl_broker_destroy(&broker);
    return done_testing();
}
