#!/usr/bin/env bash
# A single-node Slurm on this machine, for testing the Slurm profile (Debian 12: Slurm 22.05, munge).
#   workflow/scripts/local-slurm.sh start [STATE_DIR]   install (if needed), configure, start; prints the partition
#   workflow/scripts/local-slurm.sh stop  [STATE_DIR]   stop the daemons by PID
# No systemd, no cgroups (proctrack/linuxproc, task/none), no accounting: the profile polls with squeue, so
# MinJobAge keeps finished jobs visible to squeue long enough (>= 3 x slurm-init-seconds-before-status-checks).
# Needs root (apt-get, daemons). Idempotent: a running instance is stopped first.
set -euo pipefail
action=${1:?start or stop}
state=${2:-/tmp/ddstudy-slurm}
partition=ddstudy

stop() {
  for pidfile in "$state/slurmd.pid" "$state/slurmctld.pid" "$state/munged.pid"; do
    if [ -f "$pidfile" ]; then
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$pidfile"
    fi
  done
}

if [ "$action" = stop ]; then stop; exit 0; fi
[ "$action" = start ] || { echo "usage: $0 start|stop [STATE_DIR]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "local-slurm.sh: needs root (apt-get and the Slurm daemons)" >&2; exit 3; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurmctld slurmd slurm-client munge >/dev/null
fi
stop
if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
  echo "local-slurm.sh: a Slurm daemon is already running on this machine; stop it first (or use it)" >&2
  exit 4
fi
mkdir -p "$state/spool" "$state/ctld" "$state/log" /etc/slurm /run/munge /var/lib/munge /var/log/munge
host=$(hostname -s)
cpus=$(nproc)
memory=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)

cat > /etc/slurm/slurm.conf <<CONF
ClusterName=ddstudy
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=300
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=$partition Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

[ -s /etc/munge/munge.key ] || mungekey --create --keyfile /etc/munge/munge.key
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then  # reuse a working munged, else start one (ours)
  runuser -u munge -- munged --pid-file=/run/munge/munged.pid
  cp /run/munge/munged.pid "$state/munged.pid"
fi
slurmctld
slurmd
for _ in $(seq 100); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then echo "$partition"; exit 0; fi
  sleep 0.2
done
echo "local-slurm.sh: the node did not become idle; see $state/log" >&2
exit 1
