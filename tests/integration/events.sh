# Helpers for the tests of where Events are kept, sourced after lib.sh.

sim_pod_yaml() {  # sim_pod_yaml NAME: a pod of one sim container
    printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  containers:\n  - name: c\n    image: sim\n' "$1"
}
events_of() {  # events_of POD: the reasons of its Events, sorted
    keelctl get events -o json 2>/dev/null |
        jq -r --arg pod "$1" '[.items[] | select(.involvedObject.name == $pod) | .reason] | sort | join(",")'
}
has_events() { events_of "$1" | grep -q Started; }

# watch_sees_events_of POD: watches Events while POD is created and runs;
# succeeds once the watch has shown one of POD's.
watch_sees_events_of() {
    "$KEELCTL_BIN" --server "$SERVER" get events -w -o json >"$WORK/watch.out" 2>&1 &
    watch_pid=$!
    sleep 0.5
    sim_pod_yaml "$1" | keelctl apply -f - >/dev/null
    wait_for 20 pod_phase_is "$1" Running
    wait_for 10 grep -q "\"$1\"" "$WORK/watch.out"
    seen=$?
    kill -INT "$watch_pid" 2>/dev/null
    wait "$watch_pid" 2>/dev/null
    return $seen
}
