/* Tokenized JSON: fields read without a tree, the fallbacks to jansson,
 * and the errors for text that is not one JSON object. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"
#include "tap.h"

static const char *const WATCH =
    "{\"resourceVersion\":\"42\",\"events\":["
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"labels\":{\"x\":[1,{\"y\":2}]},"
    "\"generation\":3},\"spec\":{\"nodeName\":\"n1\"}}},"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"b\\\"q\"},\"status\":"
    "{\"message\":\"say \\\"hi\\\"\"}}}]}";

static void test_fields(kl_json_scan_t *scan)
{
    kl_error_t err;
    char buf[64];
    ok(kl_json_scan_parse(scan, WATCH, strlen(WATCH), &err) == 0, "a watch reply tokenizes");
    is_str(kl_json_scan_string(scan, kl_json_scan_get(scan, 0, "resourceVersion"), buf,
                               sizeof buf), "42", "a top-level string");
    int events = kl_json_scan_get(scan, 0, "events");
    ok(kl_json_scan_is_array(scan, events) && !kl_json_scan_is_object(scan, events),
       "events is an array");
    int first = kl_json_scan_first(scan, events);
    int second = kl_json_scan_next(scan, events, first);
    ok(first >= 0 && second > first && kl_json_scan_next(scan, events, second) == -1,
       "two elements, then the end");
    int object = kl_json_scan_get(scan, first, "object");
    /* The member after a nested value is found past all of its tokens. */
    int64_t generation = 0;
    ok(kl_json_scan_integer(scan, kl_json_scan_find(scan, object, "metadata", "generation", NULL),
                            &generation) == 0 && generation == 3,
       "an integer after a nested object and array");
    is_str(kl_json_scan_string(scan, kl_json_scan_find(scan, object, "spec", "nodeName", NULL),
                               buf, sizeof buf), "n1", "a path of members");
    ok(kl_json_scan_find(scan, object, "spec", "missing", NULL) == -1, "a missing member is -1");
    ok(kl_json_scan_find(scan, object, "metadata", "name", "deeper", NULL) == -1,
       "a path through a string is -1");
    ok(kl_json_scan_string(scan, kl_json_scan_find(scan, object, "metadata", "generation", NULL),
                           buf, sizeof buf) == NULL, "a number is not a string");
    char tiny[2];
    ok(kl_json_scan_string(scan, kl_json_scan_find(scan, object, "spec", "nodeName", NULL), tiny,
                           sizeof tiny) == NULL, "a string that does not fit is refused");

    int other = kl_json_scan_get(scan, second, "object");
    int name = kl_json_scan_find(scan, other, "metadata", "name", NULL);
    ok(kl_json_scan_string(scan, name, buf, sizeof buf) == NULL,
       "a string with an escape is left to kl_json_scan_load");
    json_t *loaded = kl_json_scan_load(scan, name, &err);
    is_str(json_string_value(loaded), "b\"q", "which decodes the escaped string");
    json_decref(loaded);
    loaded = kl_json_scan_load(scan, other, &err);
    is_str(json_string_value(json_object_get(json_object_get(loaded, "status"), "message")),
           "say \"hi\"", "a whole object parsed from its tokens");
    json_decref(loaded);
    ok(kl_json_scan_load(scan, 100000, &err) == NULL && err.code == KL_ERR_INVALID,
       "no value behind a bad token");
    ok(kl_json_scan_first(scan, object) == -1, "an object has no array elements");
}

static void test_growth(kl_json_scan_t *scan)
{
    /* Far more tokens than the first buffer holds. */
    size_t count = 5000;
    char *text = malloc(count * 16 + 32);
    size_t len = (size_t)sprintf(text, "{\"items\":[");
    for (size_t i = 0; i < count; i++)
        len += (size_t)sprintf(text + len, "%s{\"n\":%zu}", i ? "," : "", i);
    len += (size_t)sprintf(text + len, "]}");
    kl_error_t err;
    ok(kl_json_scan_parse(scan, text, len, &err) == 0, "%zu objects tokenize", count);
    int items = kl_json_scan_get(scan, 0, "items");
    size_t seen = 0, in_order = 1;
    for (int item = kl_json_scan_first(scan, items); item >= 0;
         item = kl_json_scan_next(scan, items, item), seen++) {
        int64_t n = -1;
        if (kl_json_scan_integer(scan, kl_json_scan_get(scan, item, "n"), &n) < 0
            || n != (int64_t)seen)
            in_order = 0;
    }
    ok(seen == count && in_order, "every element visited in order (%zu)", seen);
    free(text);
}

static void test_errors(kl_json_scan_t *scan)
{
    static const struct { const char *text; const char *says; const char *what; } bad[] = {
        {"[1,2]", "must be a JSON object", "an array at the top"},
        {"\"text\"", "must be a JSON object", "a string at the top"},
        {"{\"a\":", "ends early", "a cut-off object"},
        {"{\"a\":tru}", "invalid value at byte 5", "a misspelt literal"},
        {"{\"a\":[1,01]}", "invalid value at byte 8", "a number with a leading zero"},
        {"{\"a\":1.}", "invalid value", "a number without decimals"},
        {"{\"a\":\"x\ty\"}", "invalid value at byte 7", "a raw tab in a string"},
        {"{\"a\":x}", "invalid character", "a bare word"},
        {"{\"a\":1} {\"b\":2}", "text after the object", "a second object"},
        {"", "must be a JSON object", "nothing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        kl_error_t err;
        kl_error_clear(&err);
        int rc = kl_json_scan_parse(scan, bad[i].text, strlen(bad[i].text), &err);
        ok(rc < 0 && err.code == KL_ERR_INVALID && strstr(err.text, bad[i].says),
           "%s is refused: %s", bad[i].what, err.text);
        ok(kl_json_scan_get(scan, 0, "a") == -1, "and leaves no tokens to read");
    }
    kl_error_t err;
    ok(kl_json_scan_parse(scan, "{\"a\":1}\n", 8, &err) == 0, "trailing white space is fine");
    static const char numbers[] = "{\"a\":[0,-1,2.5,1e3,-0.5E-2,true,false,null]}";
    ok(kl_json_scan_parse(scan, numbers, strlen(numbers), &err) == 0,
       "every kind of number and literal is taken");
}

/* Trees built from tokens against jansson's own parser: the same tree for
 * every text jansson takes, a refusal for every text it refuses. */
static void test_build(void)
{
    static const struct { const char *text; const char *what; } cases[] = {
        {"{}", "an empty object"},
        {"{\"a\":[],\"b\":{},\"c\":[[]]}", "empty containers"},
        {"{\"n\":[0,-1,9223372036854775807,-9223372036854775808,2.5,1e3,-0.5E-2,1E+2]}",
         "integers at both ends of their range and reals"},
        {"{\"t\":true,\"f\":false,\"z\":null}", "literals"},
        {"{\"s\":\"tab\\there \\\"quoted\\\" \\\\ \\/ \\b\\f\\n\\r\"}", "every short escape"},
        {"{\"u\":\"\\u00e9\\u4e2d\\ud83d\\ude00\"}", "\\u escapes, a surrogate pair among them"},
        {"{\"u\":\"caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80\"}", "raw UTF-8 of two, three and four bytes"},
        {"{\"k\\u00e9y\":1,\"plain\":2}", "an escaped key"},
        {"{\"a\":1,\"a\":2}", "a repeated key (the last wins)"},
        {" {\"a\" : [ 1 , 2 ] }\n", "white space everywhere"},
        {"{\"big\":1e308}", "a real near the top of its range"},
        {"{\"tiny\":1e-400}", "a real too small (read as zero, as jansson does)"},
        {"{\"a\":\"\\u0000\"}", "a NUL escape"},
        {"{\"a\":\"\\ud800\"}", "a high surrogate alone"},
        {"{\"a\":\"\\ud800x\"}", "a high surrogate followed by text"},
        {"{\"a\":\"\\udc00\"}", "a low surrogate alone"},
        {"{\"a\":\"\\ud800\\u0041\"}", "a high surrogate followed by another escape"},
        {"{\"a\":\"\xc3\"}", "UTF-8 cut short"},
        {"{\"a\":\"\xc0\xaf\"}", "an overlong UTF-8 form"},
        {"{\"a\":\"\xed\xa0\x80\"}", "a surrogate in UTF-8"},
        {"{\"a\":\"\xf4\x90\x80\x80\"}", "UTF-8 above U+10FFFF"},
        {"{\"a\":\"\xff\"}", "a byte that is never UTF-8"},
        {"{\"k\xc3\":1}", "a key of bad UTF-8"},
        {"{\"a\":9223372036854775808}", "an integer one too big"},
        {"{\"a\":-9223372036854775809}", "an integer one too small"},
        {"{\"a\":1e309}", "a real too big"},
        {"{\"a\":-1e999}", "a real too big, negative"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        kl_error_t err;
        kl_error_clear(&err);
        size_t len = strlen(cases[i].text);
        json_t *ours = kl_json_parse_object(cases[i].text, len, &err);
        json_t *theirs = json_loadb(cases[i].text, len, 0, NULL);
        int same = theirs ? ours && json_equal(ours, theirs)
                          : !ours && err.code == KL_ERR_INVALID && strstr(err.text, "not JSON");
        ok(same, "%s: %s", cases[i].what, theirs ? "the same tree" : err.text);
        json_decref(ours);
        json_decref(theirs);
    }

    /* Past the tokens kept on the stack, and deeper than jansson goes. */
    size_t n = 5000, cap = n * 8 + 64, used = 0;
    char *text = malloc(cap);
    used += (size_t)snprintf(text + used, cap - used, "{\"a\":[");
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, cap - used, "%s%zu", i ? "," : "", i);
    used += (size_t)snprintf(text + used, cap - used, "]}");
    kl_error_t err;
    json_t *built = kl_json_parse_object(text, used, &err);
    ok(built && json_array_size(json_object_get(built, "a")) == n
           && json_integer_value(json_array_get(json_object_get(built, "a"), n - 1)) == (json_int_t)(n - 1),
       "an array of %zu numbers, past the tokens kept on the stack", n);
    json_decref(built);
    used = 0;
    used += (size_t)snprintf(text + used, cap - used, "{\"a\":");
    for (size_t i = 0; i < 3000; i++)
        text[used++] = '[';
    for (size_t i = 0; i < 3000; i++)
        text[used++] = ']';
    text[used++] = '}';
    kl_error_clear(&err);
    built = kl_json_parse_object(text, used, &err);
    ok(!built && strstr(err.text, "nested deeper than 2048"), "3,000 levels are refused: %s", err.text);
    json_decref(built);
    free(text);
}

/* Random damage to a pod's text, against jansson: for every variant both
 * take the text and build the same tree, or both refuse it. A fixed seed
 * keeps the run the same every time. */
static void test_build_mutations(void)
{
    static const char pod[] =
        "{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-1\","
        "\"labels\":{\"app\":\"web\",\"caf\xc3\xa9\":\"\\u00e9\\ud83d\\ude00\"}},\"spec\":{"
        "\"containers\":[{\"name\":\"main\",\"image\":\"busybox\",\"args\":[\"a\\\"b\",\"\\\\\"],"
        "\"resources\":{\"requests\":{\"cpu\":\"200m\"}}}],\"priority\":-12,\"ratio\":0.5e-3,"
        "\"big\":123456789012345,\"flags\":[true,false,null]}}}";
    static const char inserts[] = "\"\\u{}[],:-+.eE0123456789 \t\x01\xc3\x80\xed\xff";
    uint64_t seed = 0x6b65656c736f6e;  /* a fixed seed */
    char text[sizeof pod + 8];
    int mismatches = 0, taken = 0;
    enum { VARIANTS = 20000 };
    for (int v = 0; v < VARIANTS; v++) {
        memcpy(text, pod, sizeof pod);
        size_t len = sizeof pod - 1;
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        size_t at = (size_t)(seed >> 33) % len;
        char with = inserts[(seed >> 13) % (sizeof inserts - 1)];
        switch ((seed >> 7) % 3) {
        case 0: text[at] = with; break;                                     /* replace */
        case 1: memmove(text + at, text + at + 1, len - at); len--; break;  /* delete */
        default:                                                            /* insert */
            memmove(text + at + 1, text + at, len - at + 1);
            text[at] = with;
            len++;
        }
        kl_error_t err;
        kl_error_clear(&err);
        json_t *ours = kl_json_parse_object(text, len, &err);
        json_t *theirs = json_loadb(text, len, 0, NULL);
        if (theirs && !json_is_object(theirs)) {
            json_decref(theirs);
            theirs = NULL;
        }
        int same = theirs ? ours && json_equal(ours, theirs) : !ours && err.code == KL_ERR_INVALID;
        if (!same && mismatches++ < 3)
            diag("variant %d differs (jansson %s, ours %s): %.*s", v, theirs ? "takes it" : "refuses",
                 ours ? "takes it" : err.text, (int)len, text);
        taken += ours != NULL;
        json_decref(ours);
        json_decref(theirs);
    }
    ok(mismatches == 0, "%d damaged variants of a pod: jansson's verdict and tree every time "
       "(%d taken, %d mismatches)", VARIANTS, taken, mismatches);
}

int main(void)
{
    kl_json_scan_t *scan = kl_json_scan_new();
    test_fields(scan);
    test_growth(scan);
    test_errors(scan);
    test_build();
    test_build_mutations();
    kl_json_scan_destroy(&scan);
    ok(scan == NULL, "destroy clears the handle");
    return done_testing();
}
