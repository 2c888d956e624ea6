/* The controller kit's object helpers: keys both ways, metadata fields, the
 * resourceVersion, the controlling owner and matchLabels. */
#include <string.h>

#include <keelson/kit.h>

#include "tap.h"

int main(void)
{
    json_t *pod = json_pack("{s:{s:s, s:s, s:s, s:{s:s, s:s}, s:[{s:s, s:s}, {s:s, s:s, s:b}]}}",
                            "metadata", "name", "web-1", "namespace", "prod", "resourceVersion", "42",
                            "labels", "app", "web", "tier", "front", "ownerReferences", "kind", "Node",
                            "name", "n1", "kind", "ReplicaSet", "name", "web", "controller", 1);
    char key[64], ns[16], name[16];
    is_str(kl_object_key(pod, key, sizeof key), "prod/web-1", "key of a namespaced object");
    kl_object_key_split(key, ns, sizeof ns, name, sizeof name);
    ok(strcmp(ns, "prod") == 0 && strcmp(name, "web-1") == 0, "split back: %s, %s", ns, name);
    kl_object_key_split("node-7", ns, sizeof ns, name, sizeof name);
    ok(ns[0] == '\0' && strcmp(name, "node-7") == 0, "a cluster-scoped key has no namespace");
    is_str(kl_object_meta(pod, "namespace"), "prod", "metadata.namespace");
    ok(kl_object_meta(pod, "uid") == NULL, "an absent field is NULL");
    ok(kl_object_revision(pod) == 42, "resourceVersion as a number");
    const json_t *ref = kl_object_controller_ref(pod);
    is_str(json_string_value(json_object_get(ref, "kind")), "ReplicaSet",
           "the controller is the owner marked controller: true, not the first");
    json_t *bare = json_pack("{s:{s:s}}", "metadata", "name", "x");
    ok(kl_object_controller_ref(bare) == NULL && kl_object_revision(bare) == 0,
       "no owners and no resourceVersion: NULL and 0");
    const json_t *labels = json_object_get(json_object_get(pod, "metadata"), "labels");
    json_t *match = json_pack("{s:s}", "app", "web");
    json_t *wrong = json_pack("{s:s, s:s}", "app", "web", "tier", "back");
    json_t *empty = json_object();
    ok(kl_labels_match(match, labels), "app=web matches");
    ok(!kl_labels_match(wrong, labels), "tier=back does not");
    ok(!kl_labels_match(empty, labels) && !kl_labels_match(NULL, labels),
       "an empty or missing selector matches nothing");
    json_decref(pod);
    json_decref(bare);
    json_decref(match);
    json_decref(wrong);
    json_decref(empty);
    return done_testing();
}
