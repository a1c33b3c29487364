# Shared by tests/scripts/slurm_*_test.sh (sourced): a private local cluster per test,
# the tiny-checkpoints test manifest (eight items), and waiting for a run's jobs. Needs IBZOO_BIN and IBZOO_SOURCE_DIR.

slurm_test_fail() { echo "FAIL: $*" >&2; exit 1; }

# slurm_test_start MAX_ARRAY_SIZE: skips the test (exit 0) when Slurm is not installed;
# otherwise sets TMP, SLURM_CONF, MANIFEST and starts a cluster that an EXIT trap stops.
slurm_test_start() {
  if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    echo "SKIP: slurmctld/slurmd/munged not installed (packages slurmctld slurmd slurm-client munge)"
    exit 0
  fi
  : "${IBZOO_BIN:?set IBZOO_BIN to the ibzoo binary}" "${IBZOO_SOURCE_DIR:?set IBZOO_SOURCE_DIR}"
  MANIFEST="$IBZOO_SOURCE_DIR/manifests/test/tiny_checkpoints.yaml"
  [ -f "$MANIFEST" ] || slurm_test_fail "test manifest $MANIFEST is missing"
  TMP=$(mktemp -d /tmp/ibzoo_slurm_test.XXXXXX)
  trap slurm_test_cleanup EXIT
  eval "$("$IBZOO_SOURCE_DIR/slurm/local/start_local_cluster.sh" "$TMP/cluster" --max-array-size "$1")"
  export SLURM_CONF
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_rmaps_base_oversubscribe=1
}

slurm_test_cleanup() {
  local rc=$?
  "$IBZOO_SOURCE_DIR/slurm/local/stop_local_cluster.sh" "$TMP/cluster" 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    echo "--- job logs (test failed, rc $rc) ---" >&2
    for f in "$TMP"/run/slurm/logs/*; do
      [ -f "$f" ] && { echo "== $f"; tail -n 20 "$f"; } >&2
    done
    tail -n 20 "$TMP/cluster/log/slurmctld.log" >&2 || true
  fi
  rm -rf "$TMP"
}

# Reference results: the same manifest run directly with mpirun (2 ranks).
slurm_test_reference() {
  mpirun -np 2 "$IBZOO_BIN" run "$MANIFEST" --run-dir "$TMP/ref" --quiet ||
    slurm_test_fail "the reference run with mpirun failed"
  [ -f "$TMP/ref/results/metrics.csv" ] || slurm_test_fail "reference run wrote no results/metrics.csv"
}

# slurm_test_wait_idle TIMEOUT_S: waits until the cluster has no queued or running job.
slurm_test_wait_idle() {
  local deadline=$((SECONDS + $1))
  while [ -n "$(squeue -h -o %i)" ]; do
    if squeue -h -o %r | grep -q DependencyNeverSatisfied; then
      squeue >&2
      slurm_test_fail "a job failed, so its dependants can never run"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      squeue >&2
      slurm_test_fail "jobs still queued or running after $1 s"
    fi
    sleep 0.5
  done
}

# slurm_test_json FILE PYTHON_EXPR: prints the expression evaluated on the JSON as `j`.
slurm_test_json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

slurm_test_n_done() { find "$1/items" -name DONE 2>/dev/null | wc -l; }
