# Helpers shared by start_local_cluster.sh and stop_local_cluster.sh (sourced, not run).

# cluster_daemon_pid DIR NAME: prints the pid in DIR/run/NAME.pid if that process is
# alive and is really NAME started for DIR (its command line names DIR), so a stale
# pid file whose pid was reused by another process is never trusted.
cluster_daemon_pid() {
  local dir=$1 name=$2 pid_file="$1/run/$2.pid" pid cmdline
  [ -f "$pid_file" ] || return 1
  pid=$(tr -dc '0-9' <"$pid_file")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$name"* && $cmdline == *"$dir/"* ]] || return 1
  echo "$pid"
}

cluster_daemon_alive() { cluster_daemon_pid "$1" "$2" >/dev/null; }

# wait_for WHAT TIMEOUT_S CMD...: polls CMD every 0.2 s until it succeeds.
wait_for() {
  local what=$1 timeout_s=$2 deadline
  shift 2
  deadline=$((SECONDS + timeout_s))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "local cluster: timed out after ${timeout_s}s waiting for $what" >&2
      return 1
    fi
    sleep 0.2
  done
}

# free_ports N: prints N distinct TCP ports that nothing listens on now.
free_ports() {
  local n=$1 used picked=() port
  used=$(ss -Htan 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }' | sort -u)
  while [ "${#picked[@]}" -lt "$n" ]; do
    port=$((20000 + RANDOM % 40000))
    grep -qx "$port" <<<"$used" && continue
    [[ " ${picked[*]} " == *" $port "* ]] && continue
    picked+=("$port")
  done
  echo "${picked[*]}"
}
