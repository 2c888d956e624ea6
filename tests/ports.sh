# Picks COUNT consecutive free loopback TCP ports below the kernel's
# ephemeral range (32768+), so test daemons collide neither with each other
# nor with the source ports of outgoing connections. Prints the first one.
kl_free_ports() {
    count=${1:-8}
    tries=0
    while :; do
        base=$((10000 + ($(od -An -N2 -tu2 /dev/urandom) % 2200) * 10))
        busy=$(ss -Htan 2>/dev/null | awk -v b="$base" -v c="$count" \
            '{ n = split($4, a, ":"); p = a[n] + 0; if (p >= b && p < b + c) { print p; exit } }')
        tries=$((tries + 1))
        if [ -z "$busy" ] || [ "$tries" -ge 200 ]; then
            echo "$base"
            return 0
        fi
    done
}
