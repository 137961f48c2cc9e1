#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for test/slurm.test.ts and for trying
# docs/examples/slurm.sbatch by hand: Debian's slurmctld, slurmd and munge (installed by .ci/run).
#
#   tools/slurm/cluster.sh start [DIR]   prints DIR last; then: export SLURM_CONF=DIR/slurm.conf
#   tools/slurm/cluster.sh status DIR    sinfo of the cluster in DIR
#   tools/slurm/cluster.sh stop DIR      stops what start started, removes DIR
#
# Everything lives in DIR (default: a new /tmp/tfjs-ddp-slurm.XXXXXX): slurm.conf, the state and
# spool directories, logs, pid files, and a munged of its own with its own key and socket
# (AuthInfo=socket=...), so /etc/munge and /etc/slurm are neither read nor written, and a munged the
# machine already runs is left alone. No cgroups: proctrack/linuxproc (processes by parent pid) and
# task/none. Needs root (slurmd starts jobs as their user). Refuses to start where a slurmctld or
# slurmd already runs, or where its ports are taken. `stop` kills the daemons whose pids its pid
# files hold (if their names match), then what its jobs left (slurmstepd and job processes whose
# environment names DIR/slurm.conf), and removes DIR only if start created it (the marker file).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin" # the daemons, for a user whose PATH lacks them

MARKER=.tfjs-ddp-slurm-cluster
CTLD_PORT=${TFJS_DDP_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${TFJS_DDP_SLURMD_PORT:-6818}

die() { echo "cluster.sh: $*" >&2; exit 1; }
log() { echo "cluster.sh: $*" >&2; }

# The pid in DIR/NAME.pid if that process runs and is named NAME (a reused pid is not ours).
live_pid() {
  local dir=$1 name=$2 pid
  pid=$(cat "$dir/$name.pid" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]] || return 1
  echo "$pid"
}

# ss's whole output, not `| grep -q`: under pipefail grep's early exit could fail the pipeline (SIGPIPE).
port_taken() { [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; }

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
  local t=$1 i
  shift
  for ((i = 0; i < t * 5; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  return 1
}

node_idle() { [[ "$(sinfo -h -N -n "$1" -o '%t' 2>/dev/null)" == idle ]]; }

write_conf() {
  local dir=$1 host=$2 mem_mb
  # RealMemory a little under MemTotal: slurmd drains a node that reports less than configured.
  mem_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
  cat >"$dir/slurm.conf" <<EOF
# Written by tools/slurm/cluster.sh: a one-node cluster, everything under $dir.
ClusterName=tfjsddp
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/slurmd
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
# scancel: SIGTERM to every process of the job, SIGKILL to what is left 5 s later.
KillWait=5
InactiveLimit=0
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  local dir=${1:-} host
  [[ "$(id -u)" -eq 0 ]] || die "needs root: slurmd starts each job as the user who submitted it"
  local bin
  for bin in munged mungekey slurmctld slurmd sinfo sbatch; do
    command -v "$bin" >/dev/null || die "no $bin: apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge"
  done
  if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
    die "a slurmctld or slurmd already runs here (pids $(pgrep -d, -x 'slurmctld|slurmd')): this script starts a cluster of its own only on a machine without one; use that one"
  fi
  for p in "$CTLD_PORT" "$SLURMD_PORT"; do
    ! port_taken "$p" || die "port $p is taken; set TFJS_DDP_SLURMCTLD_PORT and TFJS_DDP_SLURMD_PORT to free ones"
  done
  if [[ -z "$dir" ]]; then
    dir=$(mktemp -d /tmp/tfjs-ddp-slurm.XXXXXX)
  else
    [[ ! -e "$dir" ]] || [[ -z "$(ls -A "$dir")" ]] || die "$dir exists and is not empty"
    mkdir -p "$dir"
  fi
  dir=$(cd "$dir" && pwd)
  touch "$dir/$MARKER"
  # A start that fails stops what it started and removes DIR.
  trap 'log "start failed: stopping what it started"; stop "$dir"' EXIT
  chmod 755 "$dir"
  mkdir -p "$dir/munge" "$dir/ctld" "$dir/slurmd" "$dir/log"
  chmod 755 "$dir/munge" # munged wants its socket reachable by every user (jobs run as theirs)
  host=$(hostname -s)
  write_conf "$dir" "$host"

  # munged: its own key (made here, in DIR), socket, pid, log and seed files.
  mungekey --create --keyfile="$dir/munge/munge.key" --force >/dev/null
  chmod 400 "$dir/munge/munge.key"
  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" ||
    die "munged did not start: $(tail -n 5 "$dir/log/munged.log" 2>/dev/null)"
  wait_for 10 live_pid "$dir" munged || die "munged did not start: $(tail -n 5 "$dir/log/munged.log" 2>/dev/null)"
  wait_for 10 test -S "$dir/munge/munge.socket" || die "munged made no socket at $dir/munge/munge.socket"

  export SLURM_CONF=$dir/slurm.conf
  # -i: ignore (there is none) saved state; the daemons fork and write their pid files.
  slurmctld -i -f "$SLURM_CONF" || die "slurmctld did not start: $(tail -n 5 "$dir/log/slurmctld.log" 2>/dev/null)"
  wait_for 20 live_pid "$dir" slurmctld || die "slurmctld did not start: $(tail -n 5 "$dir/log/slurmctld.log")"
  wait_for 20 scontrol ping || die "slurmctld does not answer: $(tail -n 5 "$dir/log/slurmctld.log")"
  slurmd -f "$SLURM_CONF" || die "slurmd did not start: $(tail -n 5 "$dir/log/slurmd.log" 2>/dev/null)"
  wait_for 20 live_pid "$dir" slurmd || die "slurmd did not start: $(tail -n 5 "$dir/log/slurmd.log")"
  wait_for 30 node_idle "$host" ||
    die "node $host is not idle after 30 s: $(sinfo -N -n "$host" -o '%N %t %E' 2>&1); slurmd.log: $(tail -n 5 "$dir/log/slurmd.log")"
  trap - EXIT
  log "node $host idle ($(nproc) CPUs); export SLURM_CONF=$SLURM_CONF"
  echo "$dir"
}

status() {
  local dir=${1:?usage: cluster.sh status DIR}
  [[ -f "$dir/$MARKER" ]] || die "$dir is not a cluster this script started"
  local name
  for name in munged slurmctld slurmd; do
    if pid=$(live_pid "$dir" "$name"); then echo "$name: pid $pid"; else echo "$name: not running"; fi
  done
  SLURM_CONF=$dir/slurm.conf sinfo -N -o '%N %t %c %m'
}

stop() {
  local dir=${1:?usage: cluster.sh stop DIR}
  [[ -f "$dir/$MARKER" ]] || die "$dir is not a cluster this script started: nothing stopped, nothing removed"
  local name pid pids=()
  # The daemons first, so that no job starts while what is left of the jobs is killed below.
  for name in slurmd slurmctld munged; do
    if pid=$(live_pid "$dir" "$name"); then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid:$name")
    fi
  done
  for entry in "${pids[@]}"; do
    pid=${entry%%:*} name=${entry#*:}
    if ! wait_for 15 bash -c "[[ \"\$(cat /proc/$pid/comm 2>/dev/null)\" != $name ]]"; then
      log "$name (pid $pid) did not stop after SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  # What slurmd started and left (a slurmstepd whose job would not end, a job's process that left
  # its tree): a slurmstepd, or a process of a job (SLURM_JOB_ID), still naming this cluster's
  # slurm.conf in its environment. Not the shell that ran this script with SLURM_CONF exported.
  local left=() env
  for pid in $(grep -lsFx -a -z -- "SLURM_CONF=$dir/slurm.conf" /proc/[0-9]*/environ | cut -d/ -f3); do
    env=$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ") || continue
    if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == slurmstepd ]] || grep -q '^SLURM_JOB_ID=' <<<"$env"; then
      left+=("$pid")
    fi
  done
  if ((${#left[@]} > 0)); then
    log "SIGKILL to what the cluster left running: $(ps -o pid=,comm= -p "$(IFS=,; echo "${left[*]}")" | tr -s ' \n' ' ')"
    kill -KILL "${left[@]}" 2>/dev/null || true
  fi
  rm -rf -- "$dir"
  log "stopped (${#pids[@]} daemons, ${#left[@]} left-over processes), removed $dir"
}

case "${1:-}" in
  start) start "${2:-}" ;;
  status) status "${2:-}" ;;
  stop) stop "${2:-}" ;;
  *) die "usage: cluster.sh start [DIR] | status DIR | stop DIR" ;;
esac
