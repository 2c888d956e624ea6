/* The controller kit's work queue: keys come out in due order, a key queued
 * twice runs once at the earlier time, back-off doubles to its cap and a
 * success resets it, and tens of thousands of keys stay cheap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <keelson/kit.h>

#include "tap.h"

static int pops(kl_workqueue_t *q, int64_t now, const char *expected)
{
    char got[256] = "";
    char *key;
    while ((key = kl_workqueue_pop(q, now))) {
        if (got[0])
            strncat(got, ",", sizeof got - strlen(got) - 1);
        strncat(got, key, sizeof got - strlen(got) - 1);
        free(key);
    }
    if (strcmp(got, expected) != 0)
        diag("popped \"%s\", expected \"%s\"", got, expected);
    return strcmp(got, expected) == 0;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
    kl_workqueue_t *q = kl_workqueue_new(10, 80);
    ok(q != NULL, "a queue with back-off from 10 to 80 ms");
    is_int((int)kl_workqueue_wait_ms(q, 0), -1, "an empty queue has nothing to wait for");
    ok(kl_workqueue_pop(q, 1000) == NULL, "and nothing to pop");

    kl_workqueue_add(q, "c", 0, 30);
    kl_workqueue_add(q, "a", 0, 10);
    kl_workqueue_add(q, "b", 0, 20);
    kl_workqueue_add(q, "d", 0, 40);
    is_int((int)kl_workqueue_length(q), 4, "four keys queued");
    is_int((int)kl_workqueue_wait_ms(q, 0), 10, "the soonest is due in 10 ms");
    ok(pops(q, 5, ""), "nothing is due at 5 ms");
    ok(pops(q, 25, "a,b"), "at 25 ms a then b, in due order");
    kl_workqueue_add(q, "d", 25, 0);
    is_int((int)kl_workqueue_length(q), 2, "queuing d again does not add a second d");
    is_int((int)kl_workqueue_wait_ms(q, 25), 0, "d moved to now, the earlier time");
    kl_workqueue_add(q, "c", 25, 1000);
    ok(pops(q, 25, "d"), "a later time for c leaves it where it was");
    ok(pops(q, 30, "c"), "c at its first time");
    is_int((int)kl_workqueue_length(q), 0, "empty again");

    is_int((int)kl_workqueue_retry(q, "x", 0), 10, "first retry waits the base delay");
    free(kl_workqueue_pop(q, 10));
    is_int((int)kl_workqueue_retry(q, "x", 10), 20, "second retry doubles it");
    free(kl_workqueue_pop(q, 30));
    is_int((int)kl_workqueue_retry(q, "x", 30), 40, "third doubles again");
    free(kl_workqueue_pop(q, 70));
    is_int((int)kl_workqueue_retry(q, "x", 70), 80, "fourth reaches the cap");
    free(kl_workqueue_pop(q, 150));
    is_int((int)kl_workqueue_retry(q, "x", 150), 80, "and stays at it");
    free(kl_workqueue_pop(q, 230));
    kl_workqueue_forget(q, "x");
    is_int((int)kl_workqueue_retry(q, "x", 230), 10, "after forget() it starts over");
    free(kl_workqueue_pop(q, 240));

    /* Keys in a scrambled order of due times, several queued twice: they must
     * come out sorted, each once, and quickly. */
    enum { MANY = 50000 };
    char key[32];
    double start = seconds();
    for (int i = 0; i < MANY; i++) {
        int due = (int)(((long long)i * 7919) % MANY);
        snprintf(key, sizeof key, "k%d", due);
        kl_workqueue_add(q, key, 0, due + 1);
        if (i % 5 == 0)
            kl_workqueue_add(q, key, 0, MANY + 10);  /* later: ignored */
    }
    is_int((int)kl_workqueue_length(q), MANY, "%d distinct keys queued once each", MANY);
    int in_order = 1, count = 0, previous = -1;
    char *popped;
    while ((popped = kl_workqueue_pop(q, 2 * MANY))) {
        int n = atoi(popped + 1);
        if (n <= previous)
            in_order = 0;
        previous = n;
        count++;
        free(popped);
    }
    double took = seconds() - start;
    is_int(count, MANY, "all %d came out", MANY);
    ok(in_order, "in due order");
    ok(took < 5.0, "adding and popping %d keys took %.3f s (a scan per operation took 9 s)",
       MANY, took);

    kl_workqueue_add(q, "left", 0, 5);
    kl_workqueue_destroy(&q);
    ok(q == NULL, "destroy frees what is still queued and clears the pointer");
    return done_testing();
}
