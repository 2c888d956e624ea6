#!/bin/sh
# deployment_scale.sh with the master's objects in etcd: the controllers'
# creates, binds, status writes and the deletes of a scale-down or a
# cascade all go through the API server's requests in flight.
KL_IT_STORE=etcd exec sh "$KEELSON_SRCDIR/tests/integration/deployment_scale.sh"
