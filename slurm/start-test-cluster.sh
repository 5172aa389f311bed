#!/usr/bin/env bash
# Start a real single-node Slurm cluster on 127.0.0.1 for ignbench's tests and CI (Debian's Slurm 22.05).
#
#   bash slurm/start-test-cluster.sh     # installs slurm + munge + slurmdbd + MariaDB if missing, starts them
#   bash slurm/stop-test-cluster.sh      # stops exactly the daemons this script started (recorded PIDs)
#
# Idempotent: if every daemon recorded last time is alive it only checks the node and exits 0; otherwise it
# starts from a fresh state. Needs root (slurmd launches jobs as the submitting user) and no systemd: the
# daemons run in the foreground under setsid. Accounting (slurmdbd + MariaDB) is always on, because submitit
# reads job states from sacct: without it a cancelled job's state is UNKNOWN and its result waits forever.
# Memory limits are enforced through cgroups where slurmd can use them (else the cluster runs without).
#
# Knobs: IGNBENCH_SLURM_DIR (default /tmp/ignbench-slurm), IGNBENCH_SLURM_PARTITION (default debug),
#        IGNBENCH_SLURM_PORT_BASE (default 6917: ctld, +1 slurmd, +2 slurmdbd, +3 MariaDB).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

DIR="${IGNBENCH_SLURM_DIR:-/tmp/ignbench-slurm}"
PARTITION="${IGNBENCH_SLURM_PARTITION:-debug}"
BASE="${IGNBENCH_SLURM_PORT_BASE:-6917}"
CTLD_PORT=$BASE SLURMD_PORT=$((BASE + 1)) DBD_PORT=$((BASE + 2)) DB_PORT=$((BASE + 3))
CONF="$DIR/etc/slurm.conf"
SOCK="$DIR/munge/munge.socket"
DAEMONS="munged mariadbd slurmdbd slurmctld slurmd"

say() { echo "[test-cluster] $*" >&2; }
fail() { say "error: $*"; for f in "$DIR"/log/*; do [ -s "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }; done; exit 1; }
alive() { # a recorded PID counts only while it still runs the program we started
  local pid; pid="$(cat "$DIR/pids/$1" 2>/dev/null)" || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && [ "$(awk '{print $3}' "/proc/$pid/stat")" != Z ]
}
retry() { local secs=$1; shift; local t=$SECONDS; until "$@" >/dev/null 2>&1; do
  [ $((SECONDS - t)) -lt "$secs" ] || return 1; sleep 0.2; done; }

[ "$(id -u)" = 0 ] || fail "run as root"

# 1. Install what is missing.
need=""
for b in munged slurmctld slurmd slurmdbd sbatch sacct sacctmgr mariadbd mariadb-install-db; do
  command -v "$b" >/dev/null || need=1
done
if [ -n "$need" ]; then
  say "installing slurmctld slurmd slurmdbd slurm-client munge mariadb-server"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      slurmctld slurmd slurmdbd slurm-client munge mariadb-server; } >/tmp/ignbench-slurm-apt.log 2>&1 \
    || { tail -n 20 /tmp/ignbench-slurm-apt.log >&2; fail "apt-get install failed"; }
fi

# The node's name must resolve to loopback: the daemons bind to it, never to 0.0.0.0.
NODE="$(hostname -s)"
case "$(getent ahostsv4 "$NODE" | awk 'NR==1{print $1}')" in 127.*) ;; *) NODE=localhost ;; esac

node_ready() { case "$(SLURM_CONF=$CONF sinfo -h -N -n "$NODE" -o %T 2>/dev/null)" in
  idle|mixed|allocated) return 0 ;; *) return 1 ;; esac; }

# 2. Already up? Then only check.
up=1; for d in $DAEMONS; do alive "$d" || up=0; done
if [ "$up" = 1 ]; then
  retry 30 node_ready || fail "daemons alive but node $NODE not ready"
  say "already running; SLURM_CONF=$CONF"; exit 0
fi
for d in $DAEMONS; do alive "$d" && fail "$d from an earlier start is alive; run slurm/stop-test-cluster.sh first"; done

# 3. Fresh state and a private munge key.
rm -rf "$DIR"; mkdir -p "$DIR"/{etc,state,spool,log,pids,munge,key,db}
chmod 755 "$DIR" "$DIR/munge"; chmod 700 "$DIR/key"
head -c 1024 /dev/urandom >"$DIR/key/munge.key"; chmod 600 "$DIR/key/munge.key"

read -r CPUS MEM < <(slurmd -C | head -n1 | sed -E 's/.*CPUs=([0-9]+).*RealMemory=([0-9]+).*/\1 \2/')
MEM=$((MEM > 2048 ? MEM - 1024 : MEM))
DB_PASS="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

write_conf() { # $1 = 1 for cgroup limits, 0 for none
  if [ "$1" = 1 ]; then
    printf 'CgroupPlugin=autodetect\nConstrainRAMSpace=yes\nConstrainCores=yes\n' >"$DIR/etc/cgroup.conf"
    TRACK="ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup,task/affinity"
  else
    rm -f "$DIR/etc/cgroup.conf"
    TRACK="ProctrackType=proctrack/linuxproc
TaskPlugin=task/none"
  fi
  cat >"$CONF" <<CONF
ClusterName=ignbench
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also bounds how long a requeued job waits before it may restart
AuthInfo=socket=$SOCK,cred_expire=10
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/state/slurmctld.pid
SlurmdPidFile=$DIR/spool/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
$TRACK
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$SOCK
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=10
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
EnforcePartLimits=ALL
SlurmdParameters=config_overrides
ReturnToService=2
MailProg=/bin/true
KillWait=5
MinJobAge=600
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
}
write_conf 1
cat >"$DIR/etc/slurmdbd.conf" <<CONF
AuthType=auth/munge
AuthInfo=socket=$SOCK
DbdHost=$NODE
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
CommunicationParameters=NoInAddrAny
SlurmUser=root
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/state/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
CONF
chmod 600 "$DIR/etc/slurmdbd.conf"
echo "export SLURM_CONF=$CONF" >"$DIR/env.sh"
mkdir -p /etc/slurm
if [ ! -e /etc/slurm/slurm.conf ] || [ -L /etc/slurm/slurm.conf ]; then ln -sfn "$CONF" /etc/slurm/slurm.conf; fi
export SLURM_CONF="$CONF"

# 4. Start the daemons (foreground mode under setsid; PIDs recorded for the stop script).
start() { local name=$1; shift; setsid "$@" </dev/null >"$DIR/log/$name.out" 2>&1 & echo $! >"$DIR/pids/$name"; }
start munged munged -F --socket="$SOCK" --key-file="$DIR/key/munge.key" --pid-file="$DIR/munge/munged.pid" \
  --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/seed"
retry 10 test -S "$SOCK" || fail "munged did not start"
mariadb-install-db --no-defaults --user=root --datadir="$DIR/db" --auth-root-authentication-method=socket \
  --skip-test-db >"$DIR/log/mariadb-install.out" 2>&1 || fail "mariadb-install-db failed"
start mariadbd mariadbd --no-defaults --user=root --datadir="$DIR/db" --socket="$DIR/db/sock" \
  --bind-address=127.0.0.1 --port="$DB_PORT" --skip-name-resolve --log-error="$DIR/log/mariadbd.log" \
  --innodb-buffer-pool-size=128M
retry 30 mariadb --no-defaults -S "$DIR/db/sock" -u root -e 'select 1' || fail "MariaDB did not start"
mariadb --no-defaults -S "$DIR/db/sock" -u root -e \
  "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
start slurmdbd slurmdbd -D
retry 30 sacctmgr -n list cluster || fail "slurmdbd did not answer"
sacctmgr -i add cluster ignbench >/dev/null
start slurmctld slurmctld -D -c -f "$CONF"
start slurmd slurmd -D -f "$CONF" -N "$NODE"
if ! retry 20 node_ready; then
  say "slurmd cannot use cgroups here; restarting without memory limits"
  for d in slurmd slurmctld; do alive "$d" && kill "$(cat "$DIR/pids/$d")"; done
  for d in slurmd slurmctld; do retry 15 bash -c "! test -d /proc/$(cat "$DIR/pids/$d")" || true; done
  write_conf 0
  start slurmctld slurmctld -D -c -f "$CONF"
  start slurmd slurmd -D -f "$CONF" -N "$NODE"
  retry 30 node_ready || fail "node $NODE did not come up"
fi
say "up: node $NODE, partition $PARTITION, $CPUS CPUs, ${MEM} MB; SLURM_CONF=$CONF"
