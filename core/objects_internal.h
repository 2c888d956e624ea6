/* What the objects_*.c files share: the validation context and the checks
 * every kind uses. Internal to the core; objects.h is the interface. */
#ifndef KL_CORE_OBJECTS_INTERNAL_H
#define KL_CORE_OBJECTS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include <keelson/error.h>

#include "objects.h"

/* One validation in progress: what a failure message names. */
typedef struct check {
    const char *kind;
    const char *name;
    kl_error_t *err;
    const char *prefix;  /* "spec.template." while checking a pod template */
} check_t;

/* Paths are formatted only when something is wrong: validation runs on every
 * write and snprintf would dominate its cost. */
#define PATH(buf, ...) (snprintf((buf), sizeof(buf), __VA_ARGS__), (buf))

/* Sets KL_ERR_INVALID with `Kind "name" is invalid: <prefix><path>: <reason>`
 * and returns -1. */
__attribute__((format(printf, 3, 4)))
int kl_obj_invalid(check_t *c, const char *path, const char *fmt, ...);
/* The JSON type of `v` in words ("object", "integer"...). */
const char *kl_obj_type_name(const json_t *v);
/* 0 when `v` has `type` (JSON_TRUE stands for either boolean); otherwise
 * -1 saying it must be `wanted`. */
int kl_obj_expect_type(check_t *c, const char *path, const json_t *v, json_type type,
                       const char *wanted);
/* Optional field that must be a string when present. */
int kl_obj_optional_string(check_t *c, const json_t *parent, const char *field,
                           const char *path);
/* An object of strings with label-key keys; `labels` also checks the values. */
int kl_obj_string_map(check_t *c, const json_t *map, const char *path, int labels);
/* One requests or limits list; cpu/memory/pods parsed into out[0..2]. */
int kl_obj_resource_list(check_t *c, const json_t *list, const char *path, int64_t out[3]);

/* A taint effect: "" (any, allowed on tolerations only), NoSchedule,
 * PreferNoSchedule or NoExecute. */
int kl_obj_check_taint_effect(check_t *c, const json_t *effect, const char *path);

/* Per-kind checks, run after the metadata passed. */
int kl_obj_check_pod(check_t *c, const json_t *pod);
int kl_obj_check_node(check_t *c, const json_t *node);
int kl_obj_check_replicaset(check_t *c, const json_t *object, int deployment);
int kl_obj_check_event(check_t *c, const json_t *object);
int kl_obj_check_lease(check_t *c, const json_t *object);

#endif
