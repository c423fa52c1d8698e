#!/usr/bin/env bash
# A real single-node SLURM on this machine, for trying profiles/slurm without a cluster and for
# the cluster tests. Needs root and Debian's slurmctld, slurmd, slurm-client and munge packages
# (installed on first use). Two fake GPUs are declared through gres.conf.
#
#   cluster/local-slurm.sh up       # install if needed, write the config, start munged/slurmctld/slurmd
#   cluster/local-slurm.sh status   # sinfo + squeue
#   cluster/local-slurm.sh down     # stop the daemons by PID
set -euo pipefail

RUN_DIR=/run/synscale-slurm
STATE_DIR=/var/lib/synscale-slurm
LOG_DIR=/var/log/synscale-slurm
CONF_DIR=/etc/slurm                      # Debian's slurm binaries read /etc/slurm/slurm.conf
HOST=$(hostname -s)
NGPU=${SYNSCALE_FAKE_GPUS:-2}

need_root() {
    if [ "$(id -u)" != 0 ]; then echo "local-slurm.sh: run as root (it installs packages and starts daemons)" >&2; exit 1; fi
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v munged >/dev/null; then
        return
    fi
    export DEBIAN_FRONTEND=noninteractive
    for attempt in 1 2 3 4 5; do
        if apt-get update -qq && apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge; then
            return
        fi
        echo "apt-get failed (attempt $attempt); retrying in 15s" >&2
        sleep 15
    done
    echo "local-slurm.sh: could not install slurmctld slurmd slurm-client munge" >&2
    exit 1
}

write_config() {
    local cpus mem last
    # at least 8 CPUs, whatever the machine has (config_overrides): a group job of short CPU jobs
    # (profiles/slurm: group-components, cpu_group_slot) asks for up to 8
    cpus=$(nproc)
    if [ "$cpus" -lt 8 ]; then cpus=8; fi
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 2048 ))
    last=$(( NGPU - 1 ))
    mkdir -p "$CONF_DIR" "$RUN_DIR" "$STATE_DIR/ctld" "$STATE_DIR/d" "$LOG_DIR"
    cat > "$CONF_DIR/slurm.conf" <<CONF
# written by synscale cluster/local-slurm.sh
ClusterName=synscale-local
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
ReturnToService=2
SlurmdParameters=config_overrides
# finished jobs stay visible to squeue for a while: the status check needs them (no accounting here)
MinJobAge=1800
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/d
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:fake:$NGPU State=UNKNOWN
PartitionName=gpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=cpu Nodes=$HOST Default=NO MaxTime=INFINITE State=UP
CONF
    # fake GPUs: any existing device files will do for scheduling
    echo "NodeName=$HOST Name=gpu Type=fake File=/dev/tty[0-$last]" > "$CONF_DIR/gres.conf"
    rm -f "$CONF_DIR/cgroup.conf"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
    mkdir -p /run/munge "$RUN_DIR"
    chown munge:munge /run/munge 2>/dev/null || true
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
        chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    fi
    if ! pid_alive "$RUN_DIR/munged.pid"; then
        /usr/sbin/munged --force --pid-file="$RUN_DIR/munged.pid" 2>/dev/null
    fi
    if pid_alive "$RUN_DIR/slurmctld.pid"; then
        scontrol reconfigure >/dev/null 2>&1 || true
    else
        /usr/sbin/slurmctld -i
    fi
    pid_alive "$RUN_DIR/slurmd.pid" || /usr/sbin/slurmd
    for _ in $(seq 1 60); do
        if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
            echo "local SLURM is up: $(sinfo -h -o '%P %D %T %G' | tr '\n' ' ')"
            return
        fi
        scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
        sleep 1
    done
    echo "local-slurm.sh: the node did not become idle; see $LOG_DIR/*.log" >&2
    sinfo >&2 || true
    exit 1
}

stop() {
    for d in slurmd slurmctld munged; do
        if pid_alive "$RUN_DIR/$d.pid"; then
            kill "$(cat "$RUN_DIR/$d.pid")" 2>/dev/null || true
        fi
    done
    for d in slurmd slurmctld munged; do
        for _ in $(seq 1 20); do pid_alive "$RUN_DIR/$d.pid" || break; sleep 0.5; done
        rm -f "$RUN_DIR/$d.pid"
    done
    echo "local SLURM stopped"
}

case "${1:-}" in
    up) need_root; install_packages; write_config; start ;;
    down) need_root; stop ;;
    status) sinfo; squeue ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
