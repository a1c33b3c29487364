#!/usr/bin/env bash
# Stops the test cluster that start_local_cluster.sh started in DIR: cancels its jobs,
# then stops slurmd, slurmctld and munged, each by its pid file in DIR/run (and only
# if that pid really is the daemon started for DIR). Safe to run twice, or on a DIR
# whose daemons already died. Leaves DIR itself (logs) in place.
#   usage: stop_local_cluster.sh DIR
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
[ -d "$1" ] || exit 0
DIR=$(cd "$1" && pwd -P)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
source "$here/local_cluster_lib.sh"

# Jobs first, so their steps (slurmstepd, outside slurmd's process) end cleanly.
if cluster_daemon_alive "$DIR" slurmctld && [ -f "$DIR/slurm.conf" ]; then
  export SLURM_CONF="$DIR/slurm.conf"
  if [ -n "$(squeue -h -o %i 2>/dev/null)" ]; then
    scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
    wait_for "jobs to end" 20 bash -c '[ -z "$(squeue -h -t RUNNING,COMPLETING -o %i)" ]' || true
  fi
fi

stop_daemon() {
  local name=$1 pid
  pid=$(cluster_daemon_pid "$DIR" "$name") || { rm -f "$DIR/run/$name.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "stop_local_cluster: $name (pid $pid) ignored SIGTERM for 5 s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/run/$name.pid"
}

stop_daemon slurmd
stop_daemon slurmctld
stop_daemon munged
echo "stop_local_cluster: stopped the cluster in $DIR" >&2
