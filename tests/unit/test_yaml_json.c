/* Unit tests for keelctl's YAML <-> JSON conversion and manifest reading. */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "keelctl/manifest.h"
#include "keelctl/yaml_json.h"

static json_t *parse_one(const char *text, kl_error_t *err)
{
    json_t *docs = kl_yaml_parse(text, strlen(text), "test.yaml", NULL, err);
    if (!docs)
        return NULL;
    json_t *first = json_incref(json_array_get(docs, 0));
    json_decref(docs);
    return first;
}

static void test_scalar_typing(void)
{
    kl_error_t err;
    json_t *v = parse_one("i: 42\nneg: -7\nhex: 0x1f\noct: 0o17\nf: 2.5\nexp: 1e3\n"
                          "t: true\nF: False\nn: null\ntilde: ~\nempty:\n"
                          "s: hello world\nq: \"42\"\nsq: 'true'\nyes: yes\nver: 1.35.0\n"
                          "tagged: !!str 12\nlit: |\n  line1\n  line2\n",
                          &err);
    ok(v != NULL, "typed scalars parse (%s)", v ? "ok" : err.text);
    if (!v)
        return;
    ok(json_is_integer(json_object_get(v, "i")) && json_integer_value(json_object_get(v, "i")) == 42,
       "plain 42 is an integer");
    is_int(json_integer_value(json_object_get(v, "neg")), -7, "plain -7 is an integer");
    is_int(json_integer_value(json_object_get(v, "hex")), 31, "0x1f is hexadecimal");
    is_int(json_integer_value(json_object_get(v, "oct")), 15, "0o17 is octal");
    ok(json_is_real(json_object_get(v, "f")) && json_real_value(json_object_get(v, "f")) == 2.5,
       "plain 2.5 is a real");
    ok(json_is_real(json_object_get(v, "exp")) && json_real_value(json_object_get(v, "exp")) == 1000,
       "1e3 is a real");
    ok(json_is_true(json_object_get(v, "t")), "true is a bool");
    ok(json_is_false(json_object_get(v, "F")), "False is a bool");
    ok(json_is_null(json_object_get(v, "n")), "null is null");
    ok(json_is_null(json_object_get(v, "tilde")), "~ is null");
    ok(json_is_null(json_object_get(v, "empty")), "an empty value is null");
    is_str(json_string_value(json_object_get(v, "s")), "hello world", "plain text is a string");
    is_str(json_string_value(json_object_get(v, "q")), "42", "double-quoted 42 stays a string");
    is_str(json_string_value(json_object_get(v, "sq")), "true", "single-quoted true stays a string");
    is_str(json_string_value(json_object_get(v, "yes")), "yes", "yes is a string (YAML 1.2)");
    is_str(json_string_value(json_object_get(v, "ver")), "1.35.0", "1.35.0 is a string");
    is_str(json_string_value(json_object_get(v, "tagged")), "12", "!!str 12 is a string");
    is_str(json_string_value(json_object_get(v, "lit")), "line1\nline2\n",
           "a literal block keeps its newlines");
    json_decref(v);
}

static void test_nesting(void)
{
    kl_error_t err;
    json_t *v = parse_one("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {app: web}\n"
                          "spec:\n  containers:\n  - name: c\n    image: busybox:1.35\n"
                          "    command: [\"/bin/sh\", \"-c\", \"exit 0\"]\n"
                          "    resources:\n      requests:\n        cpu: 100m\n        memory: 64Mi\n",
                          &err);
    ok(v != NULL, "a nested pod manifest parses");
    if (!v)
        return;
    json_t *c = json_array_get(json_object_get(json_object_get(v, "spec"), "containers"), 0);
    is_str(json_string_value(json_object_get(c, "image")), "busybox:1.35", "nested list of maps");
    is_int(json_array_size(json_object_get(c, "command")), 3, "flow sequence has three items");
    is_str(json_string_value(json_object_get(json_object_get(json_object_get(v, "metadata"),
                                                             "labels"),
                                             "app")),
           "web", "flow mapping inside a block mapping");
    json_decref(v);

    v = parse_one("base: &b {cpu: 1, memory: 2}\nother:\n  <<: *b\n  cpu: 3\ncopy: *b\n", &err);
    ok(v != NULL, "anchors, aliases and merge keys parse");
    if (v) {
        is_int(json_integer_value(json_object_get(json_object_get(v, "other"), "cpu")), 3,
               "an explicit key wins over a merged one");
        is_int(json_integer_value(json_object_get(json_object_get(v, "other"), "memory")), 2,
               "a merge key fills in missing keys");
        is_int(json_integer_value(json_object_get(json_object_get(v, "copy"), "cpu")), 1,
               "an alias copies its anchor");
    }
    json_decref(v);
}

static void test_documents(void)
{
    kl_error_t err;
    json_t *lines = NULL;
    const char *text = "a: 1\n---\nb: 2\n---\n# only a comment\nc: 3\n";
    json_t *docs = kl_yaml_parse(text, strlen(text), "multi.yaml", &lines, &err);
    ok(docs != NULL, "a three-document stream parses");
    if (docs) {
        is_int(json_array_size(docs), 3, "three documents");
        is_int(json_integer_value(json_object_get(json_array_get(docs, 2), "c")), 3,
               "third document content");
        is_int(json_integer_value(json_array_get(lines, 1)), 2, "second document starts on line 2");
    }
    json_decref(docs);
    json_decref(lines);
}

static void test_errors(void)
{
    kl_error_t err;
    const char *bad = "a: 1\n---\nmetadata:\n  name: web\n   bad: indent\n";
    json_t *docs = kl_yaml_parse(bad, strlen(bad), "bad.yaml", NULL, &err);
    ok(docs == NULL, "bad indentation is refused");
    diag("%s", err.text);
    ok(strstr(err.text, "bad.yaml") != NULL, "error names the file");
    ok(strstr(err.text, "document 2") != NULL, "error names the document");
    ok(strstr(err.text, "line 5") != NULL, "error names the line");
    is_int(err.code, KL_ERR_INVALID, "a syntax error is Invalid");

    const char *unclosed = "spec: [a, b\n";
    docs = kl_yaml_parse(unclosed, strlen(unclosed), "x.yaml", NULL, &err);
    ok(docs == NULL && strstr(err.text, "line 2") != NULL, "an unclosed flow sequence: %s",
       err.text);

    const char *dup = "a: 1\nb: 2\na: 3\n";
    docs = kl_yaml_parse(dup, strlen(dup), "dup.yaml", NULL, &err);
    ok(docs == NULL && strstr(err.text, "duplicate key \"a\"") && strstr(err.text, "line 3"),
       "a duplicate key is refused with its line: %s", err.text);

    const char *tab = "a:\n\tb: 1\n";
    docs = kl_yaml_parse(tab, strlen(tab), "tab.yaml", NULL, &err);
    ok(docs == NULL && strstr(err.text, "line 2"), "a tab indent is refused: %s", err.text);

    const char *big = "n: 99999999999999999999999\n";
    docs = kl_yaml_parse(big, strlen(big), "big.yaml", NULL, &err);
    ok(docs == NULL && strstr(err.text, "out of range"), "an oversized integer is refused: %s",
       err.text);

    const char *alias = "a: *nothing\n";
    docs = kl_yaml_parse(alias, strlen(alias), "alias.yaml", NULL, &err);
    ok(docs == NULL && strstr(err.text, "nothing"), "an unknown alias is refused: %s", err.text);

    /* Each level doubles the last: without a bound this grows to 2^40 values. */
    char laughs[4096] = "l0: &l0 [x, x]\n";
    for (int i = 1; i <= 40; i++) {
        char line[64];
        snprintf(line, sizeof line, "l%d: &l%d [*l%d, *l%d]\n", i, i, i - 1, i - 1);
        strcat(laughs, line);
    }
    docs = kl_yaml_parse(laughs, strlen(laughs), "laughs.yaml", NULL, &err);
    ok(docs == NULL && strstr(err.text, "more than"), "alias expansion is bounded: %s", err.text);
}

static void test_round_trip(void)
{
    kl_error_t err;
    const char *json_text =
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\","
        "\"labels\":{\"app\":\"web\",\"version\":\"1.0\",\"flag\":\"true\",\"num\":\"007\","
        "\"empty\":\"\",\"colon\":\"a: b\",\"null\":\"null\",\"yes\":\"yes\"}},"
        "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox:1.35\","
        "\"command\":[\"/bin/sh\",\"-c\",\"echo hi\\nexit 0\"],\"ports\":[{\"containerPort\":80}]}],"
        "\"ratio\":0.1,\"big\":1e300,\"whole\":2.0,\"neg\":-3,\"on\":false,\"nothing\":null,"
        "\"emptyList\":[],\"emptyMap\":{},\"unicode\":\"h\\u00e9llo\"}}";
    json_t *original = json_loads(json_text, 0, NULL);
    ok(original != NULL, "fixture JSON loads");
    char *yaml = kl_yaml_emit(original, &err);
    ok(yaml != NULL, "JSON emits as YAML");
    if (!yaml) {
        json_decref(original);
        return;
    }
    diag("emitted:\n%s", yaml);
    ok(strstr(yaml, "kind: Pod\n") != NULL, "a plain string is written plain");
    ok(strstr(yaml, "version: \"1.0\"") != NULL, "a number-like string is quoted");
    ok(strstr(yaml, "- name: c") != NULL, "a list of maps is written in block style");
    json_t *docs = kl_yaml_parse(yaml, strlen(yaml), "emitted", NULL, &err);
    ok(docs != NULL, "the emitted YAML parses back (%s)", docs ? "ok" : err.text);
    ok(docs && json_equal(json_array_get(docs, 0), original), "JSON -> YAML -> JSON is lossless");
    json_decref(docs);
    free(yaml);
    json_decref(original);

    json_t *scalar = json_string("plain");
    yaml = kl_yaml_emit(scalar, &err);
    ok(yaml && strncmp(yaml, "plain", 5) == 0, "a lone scalar emits");
    free(yaml);
    json_decref(scalar);
}

static void test_manifest(void)
{
    kl_error_t err;
    const char *yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n---\n"
                       "- not an object\n---\nkind: Pod\nmetadata: {}\n";
    kl_manifest_t *m = kl_manifest_parse(yaml, strlen(yaml), "m.yaml", &err);
    ok(m != NULL, "a YAML manifest with bad documents still parses");
    if (m) {
        is_int(kl_manifest_size(m), 3, "empty documents are skipped");
        ok(kl_manifest_object(m, 0) != NULL, "first document is an object");
        ok(kl_manifest_object(m, 1) == NULL, "a list document is refused");
        ok(strstr(kl_manifest_problem(m, 1), "found a list") != NULL, "its problem says why: %s",
           kl_manifest_problem(m, 1));
        ok(strstr(kl_manifest_where(m, 1), "m.yaml: document 3 (line 5)") != NULL,
           "it names file, document and line: %s", kl_manifest_where(m, 1));
        ok(kl_manifest_object(m, 2) == NULL && strstr(kl_manifest_problem(m, 2), "metadata.name"),
           "a nameless object is refused naming metadata.name: %s", kl_manifest_problem(m, 2));
    }
    kl_manifest_destroy(&m);
    ok(m == NULL, "destroy nulls the pointer");
    kl_manifest_destroy(&m);

    const char *list = "{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":["
                       "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}},"
                       "{\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\"}}]}";
    m = kl_manifest_parse(list, strlen(list), "l.json", &err);
    ok(m && kl_manifest_size(m) == 2, "a JSON List gives its items");
    ok(m && json_is_object(kl_manifest_object(m, 1)), "second item is an object");
    kl_manifest_destroy(&m);

    const char *badjson = "{\"kind\": \"Pod\",\n \"metadata\": }";
    m = kl_manifest_parse(badjson, strlen(badjson), "b.json", &err);
    ok(m == NULL && strstr(err.text, "b.json") && strstr(err.text, "line 2"),
       "malformed JSON names file and line: %s", err.text);
}

int main(void)
{
    test_scalar_typing();
    test_nesting();
    test_documents();
    test_errors();
    test_round_trip();
    test_manifest();
    return done_testing();
}
