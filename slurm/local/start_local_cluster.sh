#!/usr/bin/env bash
# Starts a single-node Slurm 22.05 cluster for tests, entirely inside DIR:
# munged (own key and socket), slurmctld and slurmd, started by hand (no systemd).
# Config, state, spool, logs, pid files and sockets all live under DIR, so several
# clusters can run side by side on one machine (each picks its own free ports).
#
#   usage: start_local_cluster.sh DIR [--max-array-size N] [--timeout-s S]
#   then:  eval "$(start_local_cluster.sh DIR)"   (prints: export SLURM_CONF=DIR/slurm.conf)
#
# Only the export line goes to stdout; progress goes to stderr. Running it again on a
# DIR whose daemons are all up does nothing; leftovers of a killed run (stale pid files,
# half-started daemons) are stopped first, by pid file. Stop with stop_local_cluster.sh DIR.
set -euo pipefail

usage() { echo "usage: $0 DIR [--max-array-size N] [--timeout-s S]" >&2; exit 2; }
[ $# -ge 1 ] || usage
dir_arg=$1; shift
max_array_size=1001
timeout_s=60
while [ $# -gt 0 ]; do
  case $1 in
    --max-array-size) [ $# -ge 2 ] || usage; max_array_size=$2; shift 2 ;;
    --timeout-s) [ $# -ge 2 ] || usage; timeout_s=$2; shift 2 ;;
    *) usage ;;
  esac
done
[[ $max_array_size =~ ^[0-9]+$ ]] && [ "$max_array_size" -ge 1 ] ||
  { echo "start_local_cluster: --max-array-size must be a positive integer, got '$max_array_size'" >&2; exit 2; }

for tool in munged slurmctld slurmd sinfo; do
  command -v "$tool" >/dev/null ||
    { echo "start_local_cluster: '$tool' not found; install munge, slurmctld, slurmd, slurm-client" >&2; exit 1; }
done

mkdir -p "$dir_arg"
DIR=$(cd "$dir_arg" && pwd -P)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
source "$here/local_cluster_lib.sh"
log() { echo "start_local_cluster: $*" >&2; }

# Already fully up from a previous call with the same settings: reuse it.
if [ -f "$DIR/slurm.conf" ] && grep -qx "MaxArraySize=$max_array_size" "$DIR/slurm.conf" &&
   cluster_daemon_alive "$DIR" munged && cluster_daemon_alive "$DIR" slurmctld &&
   cluster_daemon_alive "$DIR" slurmd && SLURM_CONF="$DIR/slurm.conf" sinfo -h -o %T 2>/dev/null | grep -q idle; then
  log "cluster in $DIR is already running"
  echo "export SLURM_CONF=$DIR/slurm.conf"
  exit 0
fi
# Anything half-started or stale from an earlier run in this DIR goes first.
"$here/stop_local_cluster.sh" "$DIR" >/dev/null 2>&1 || true
rm -rf "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/run" "$DIR/munge" "$DIR/tmp"
mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/run" "$DIR/munge" "$DIR/tmp"
chmod 700 "$DIR/munge"

# --- munge: its own key and socket -------------------------------------------------
dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$DIR/munge/munge.key"
socket="$DIR/munge/munge.socket.2"
# --force: the scratch dir may sit below a world-writable /tmp, which munged rejects.
munged --force --socket="$socket" --key-file="$DIR/munge/munge.key" \
  --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed"
wait_for "munged socket" 10 test -S "$socket"

# --- slurm.conf -----------------------------------------------------------------------
user=$(id -un)
node=$(hostname -s)
n_cpus=$(nproc)
mem_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
read -r port_ctld port_slurmd < <(free_ports 2)
cat >"$DIR/slurm.conf" <<EOF
# Written by slurm/local/start_local_cluster.sh: a throwaway single-node test cluster.
ClusterName=ibzoo-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port_ctld
SlurmdPort=$port_slurmd
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=pmix
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1
MaxArraySize=$max_array_size
# Distinct job ids per cluster: per-job scratch names (e.g. PMIx's) must not collide when
# several test clusters run side by side on this host.
FirstJobId=$(( (RANDOM * 32768 + RANDOM) % 50000000 + 1000 ))
TmpFS=$DIR/tmp
MaxJobCount=10000
ReturnToService=2
JobRequeue=1
MinJobAge=300
KillWait=10
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
NodeName=$node NodeAddr=127.0.0.1 CPUs=$n_cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
: >"$DIR/plugstack.conf"
echo "PlugStackConfig=$DIR/plugstack.conf" >>"$DIR/slurm.conf"

# --- daemons ------------------------------------------------------------------------
export SLURM_CONF="$DIR/slurm.conf"
# -i: ignore any state in StateSaveLocation (it was just emptied anyway).
slurmctld -f "$SLURM_CONF" -i
wait_for "slurmctld" "$timeout_s" scontrol ping
slurmd -f "$SLURM_CONF"
if ! wait_for "node $node idle" "$timeout_s" bash -c 'sinfo -h -o %T | grep -qx idle'; then
  log "node did not become idle; last lines of $DIR/log/slurmd.log and slurmctld.log:"
  tail -n 20 "$DIR/log/slurmd.log" "$DIR/log/slurmctld.log" >&2 || true
  "$here/stop_local_cluster.sh" "$DIR" >&2 || true
  exit 1
fi
log "cluster up in $DIR (node $node, $n_cpus CPUs, ports $port_ctld/$port_slurmd, MaxArraySize=$max_array_size)"
echo "export SLURM_CONF=$DIR/slurm.conf"
