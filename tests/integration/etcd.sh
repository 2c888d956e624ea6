# A loopback etcd cluster for integration tests, sourced after lib.sh: skips
# the test without etcd or curl, and stops the cluster when the test exits.
ETCD_BIN=/usr/bin/etcd
ETCD_CLUSTER="$KEELSON_SRCDIR/scripts/etcd-cluster.sh"
ETCD_DIR="$WORK/etcd"
[ -x "$ETCD_BIN" ] || skip_all "$ETCD_BIN is not installed (apt-get install etcd-server)"
command -v curl >/dev/null 2>&1 || skip_all "curl is not installed"

etcd_cleanup() {
    stop_daemons
    ETCD="$ETCD_BIN" sh "$ETCD_CLUSTER" stop "$ETCD_DIR" >/dev/null 2>&1
    cleanup
}
trap etcd_cleanup EXIT INT TERM

# etcd_start MEMBERS: starts the cluster in $ETCD_DIR, member i serving
# clients on ETCD_BASE + 2i; sets ETCD_BASE and ENDPOINTS (comma-separated)
# and returns non-zero, with the reason in $WORK/etcd-start.err, if it
# never became healthy.
etcd_start() {
    ETCD_BASE=$(kl_free_ports $(($1 * 2)))
    ENDPOINTS=$(ETCD="$ETCD_BIN" sh "$ETCD_CLUSTER" start "$ETCD_DIR" "$1" "$ETCD_BASE" 2>"$WORK/etcd-start.err")
}
