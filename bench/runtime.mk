# Runtime benchmark: apply-to-Running/Succeeded per real runtime against the
# runtime's own tool; run by hand or bench/run-all.sh, never by make check.
dist_noinst_SCRIPTS += bench/runtime_bench.sh
