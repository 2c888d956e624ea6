/* The single public entry header: everything a plugin may use. */
#ifndef KEELSON_KEELSON_H
#define KEELSON_KEELSON_H

#include <keelson/version.h>
#include <keelson/error.h>
#include <keelson/host.h>
#include <keelson/plugin.h>
#include <keelson/store.h>
#include <keelson/scheduler.h>
#include <keelson/runtime.h>
#include <keelson/controller.h>
#include <keelson/kit.h>

#endif
