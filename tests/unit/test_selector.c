/* Label and field selectors: parse once, match many; errors name the
 * selector and the position. */
#include <string.h>

#include "selector.h"
#include "tap.h"

static json_t *pod(const char *name, const char *ns, const char *labels, const char *node,
                   const char *phase)
{
    json_error_t jerr;
    json_t *p = json_pack("{s:s,s:{s:s,s:s},s:{},s:{s:s}}", "kind", "Pod", "metadata", "name", name,
                          "namespace", ns, "spec", "status", "phase", phase);
    json_t *l = json_loads(labels, 0, &jerr);
    json_object_set_new(json_object_get(p, "metadata"), "labels", l);
    if (node)
        json_object_set_new(json_object_get(p, "spec"), "nodeName", json_string(node));
    return p;
}

static int matches(const char *label, const char *field, const json_t *object)
{
    kl_error_t err = {0, ""};
    kl_selector_t *s = kl_selector_new(label, field, &err);
    if (!s) {
        diag("unexpected parse error: %s", err.text);
        return -1;
    }
    int m = kl_selector_matches(s, object);
    kl_selector_destroy(&s);
    return m;
}

static void rejects(const char *label, const char *field, const char *expected)
{
    kl_error_t err = {0, ""};
    kl_selector_t *s = kl_selector_new(label, field, &err);
    ok(s == NULL && err.code == KL_ERR_INVALID && strstr(err.text, expected),
       "\"%s\" is rejected with \"%s\"", label ? label : field, expected);
    if (s || !strstr(err.text, expected))
        diag("got: %s", err.text);
    kl_selector_destroy(&s);
}

int main(void)
{
    json_t *web = pod("web-1", "default", "{\"app\":\"web\",\"tier\":\"front\",\"env\":\"prod\"}",
                      "node-1", "Running");
    json_t *db = pod("db-1", "prod", "{\"app\":\"db\",\"tier\":\"db\"}", NULL, "Pending");

    is_int(matches(NULL, NULL, web), 1, "no selector matches everything");
    is_int(matches("", "", db), 1, "empty selectors match everything");
    is_int(matches("app=web", NULL, web), 1, "app=web matches web");
    is_int(matches("app=web", NULL, db), 0, "app=web does not match db");
    is_int(matches("app==web", NULL, web), 1, "== is the same as =");
    is_int(matches("app=web,tier!=db", NULL, web), 1, "conjunction matches");
    is_int(matches("tier!=db", NULL, db), 0, "!= excludes the equal value");
    is_int(matches("missing!=x", NULL, db), 1, "!= matches an absent label");
    is_int(matches("env", NULL, web), 1, "bare key: exists");
    is_int(matches("env", NULL, db), 0, "bare key: absent fails");
    is_int(matches("!env", NULL, db), 1, "!key: absent matches");
    is_int(matches("!env", NULL, web), 0, "!key: present fails");
    is_int(matches(" app = web , env ", NULL, web), 1, "spaces are allowed around tokens");
    is_int(matches("env in (dev, prod)", NULL, web), 1, "in (set) matches a member");
    is_int(matches("app in (api,db)", NULL, web), 0, "in (set) rejects a non-member");
    is_int(matches("app notin (api,db)", NULL, web), 1, "notin matches a non-member");
    is_int(matches("app notin (api,db)", NULL, db), 0, "notin rejects a member");
    is_int(matches("example.com/team=core", NULL, web), 0, "prefixed key absent");

    is_int(matches(NULL, "metadata.name=web-1", web), 1, "field metadata.name");
    is_int(matches(NULL, "metadata.namespace==prod", db), 1, "field metadata.namespace with ==");
    is_int(matches(NULL, "spec.nodeName=node-1", web), 1, "field spec.nodeName");
    is_int(matches(NULL, "spec.nodeName=node-1", db), 0, "unbound pod has no node");
    is_int(matches(NULL, "spec.nodeName=", db), 1, "spec.nodeName= selects unbound pods");
    is_int(matches(NULL, "spec.nodeName!=", web), 1, "spec.nodeName!= selects bound pods");
    is_int(matches(NULL, "status.phase!=Running", web), 0, "status.phase != Running");
    is_int(matches(NULL, "status.phase!=Running,metadata.namespace=prod", db), 1,
           "field conjunction");
    is_int(matches("app=db", "status.phase=Pending", db), 1, "label and field together");
    is_int(matches("app=web", "status.phase=Pending", db), 0, "label part can fail alone");

    kl_error_t err = {0, ""};
    kl_selector_t *s = kl_selector_new("app=web", "spec.nodeName=node-1", &err);
    is_str(kl_selector_field_equals(s, "spec.nodeName"), "node-1", "pinned node is exposed");
    ok(kl_selector_field_equals(s, "status.phase") == NULL, "unpinned field gives NULL");
    ok(!kl_selector_is_empty(s), "selector with requirements is not empty");
    kl_selector_destroy(&s);
    ok(s == NULL, "destroy nulls the pointer");
    kl_selector_destroy(&s);
    ok(kl_selector_is_empty(NULL), "NULL selector is empty");
    ok(kl_selector_matches(NULL, web), "NULL selector matches");

    rejects("app=web,", NULL, "label selector \"app=web,\" at position 9: expected a label key");
    rejects("app=we b", NULL, "at position 8: unexpected 'b'");
    rejects("app in web", NULL, "expected '(' after 'in'");
    rejects("app in (a,b", NULL, "expected ',' or ')'");
    rejects("app =~ web", NULL, "invalid value");
    rejects("app=-web", NULL, "invalid value \"-web\"");
    rejects("Bad Key=x", NULL, "position");
    rejects("app>web", NULL, "label selector \"app>web\"");
    rejects(NULL, "spec.image=busybox", "field selector \"spec.image=busybox\" at position 1: field \"spec.image\" is not supported");
    rejects(NULL, "status.phase", "expected '=', '==' or '!='");
    rejects(NULL, "status.phase in a", "expected '(' after 'in'");

    /* Field sets: a kubelet serving many nodes watches all of them at once;
     * long sets are looked up by hash, short ones by scanning. */
    is_int(matches(NULL, "spec.nodeName in (node-0,node-1)", web), 1, "spec.nodeName in a short set");
    is_int(matches(NULL, "spec.nodeName notin (node-0,node-1)", web), 0, "spec.nodeName notin a short set");
    char big[16384] = "spec.nodeName in (";
    for (int i = 0; i < 1000; i++) {
        char name[16];
        snprintf(name, sizeof name, "%snode-%d", i ? "," : "", i);
        strcat(big, name);
    }
    strcat(big, ")");
    is_int(matches(NULL, big, web), 1, "spec.nodeName in a set of 1,000 names");
    is_int(matches(NULL, big, db), 0, "... and a pod bound elsewhere does not match");

    /* A caller that has read spec.nodeName already passes it in: that name
     * is the one compared, and labels are still read from the object. */
    kl_selector_t *set = kl_selector_new("app=web", big, &err);
    ok(set != NULL, "a label and a 1,000-name field selector parse together");
    is_int(kl_selector_matches_pod(set, web, "node-999"), 1, "the node name given is the one compared");
    is_int(kl_selector_matches_pod(set, web, "node-1000"), 0, "... even when the object names another");
    is_int(kl_selector_matches_pod(set, web, ""), 0, "... \"\" standing for an unbound pod");
    is_int(kl_selector_matches_pod(set, db, "node-1"), 0, "... while the labels come from the object");
    kl_selector_destroy(&set);

    json_decref(web);
    json_decref(db);
    return done_testing();
}
