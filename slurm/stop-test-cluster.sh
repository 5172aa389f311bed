#!/usr/bin/env bash
# Stop the daemons slurm/start-test-cluster.sh started: only their recorded PIDs, only while each PID still runs
# the program that was started (no pkill, no name matching). Queued and running jobs are cancelled first.
set -uo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
DIR="${IGNBENCH_SLURM_DIR:-/tmp/ignbench-slurm}"
export SLURM_CONF="$DIR/etc/slurm.conf"

pid_of() { local pid; pid="$(cat "$DIR/pids/$1" 2>/dev/null)" || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"; }

if pid_of slurmctld >/dev/null; then
  jobs="$(squeue -h -o %A 2>/dev/null | tr '\n' ' ')"
  if [ -n "${jobs// /}" ]; then
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null
    for _ in $(seq 30); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.5; done
  fi
fi
for name in slurmd slurmctld slurmdbd mariadbd munged; do
  pid="$(pid_of "$name")" || { rm -f "$DIR/pids/$name"; continue; }
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 60); do
    [ -d "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || break
    sleep 0.25
  done
  [ -d "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] && kill -KILL "$pid"
  echo "[test-cluster] stopped $name (pid $pid)" >&2
  rm -f "$DIR/pids/$name"
done
