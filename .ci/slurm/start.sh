#!/usr/bin/env bash
# Start a real, single-node SLURM cluster on this machine for CI (issue 8).
#
# What it does, in order:
#   1. installs Debian's slurm-wlm, munge, slurmdbd and mariadb-server with apt-get if missing;
#   2. writes /etc/slurm/slurm.conf and /etc/slurm/slurmdbd.conf (refusing to run where a SLURM
#      configuration it did not write exists); all state, spool and logs go to $PHOTOZ_SLURM_DIR
#      (default /tmp/photoz-slurm). Why /etc/slurm and not SLURM_CONF: the executor plugin's job
#      step (snakemake-executor-plugin-slurm-jobstep 0.6.1) removes every SLURM_* variable before
#      its inner `srun`, SLURM_CONF included, so srun inside a job only finds the default path;
#   3. starts munged (only if no munged is running already), mariadbd, slurmdbd, slurmctld and slurmd
#      on private ports (16306, 16817-16819) so that it cannot collide with a site's own SLURM;
#   4. records every daemon it started as "name pid" lines in $PHOTOZ_SLURM_DIR/pids
#      (stop.sh stops exactly those and nothing else);
#   5. waits until the node is idle and runs an `srun hostname` smoke test.
#
# Accounting (slurmdbd + MariaDB) is on, so the executor plugin's default `sacct` status checks run
# unchanged, as on a real cluster, and `sacct` can prove afterwards which rules ran as SLURM jobs.
# Facts behind the settings: ../shared/notes/slurm-on-one-machine.md (Slurm 22.05, Debian 12).
#
# Needs root (apt-get, daemons run as SlurmUser=root); the CI machine runs as root.
# Usage:  bash .ci/slurm/start.sh   ...   bash .ci/slurm/stop.sh
set -euo pipefail

D=${PHOTOZ_SLURM_DIR:-/tmp/photoz-slurm}
CLUSTER=photozci
ACCOUNT=ci
PARTITION=debug
DB_PORT=16306
CTLD_PORT=16817
SLURMD_PORT=16818
DBD_PORT=16819

log() { echo "[slurm-start $(date +%H:%M:%S)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get and the SLURM daemons need it)"

if [ -s "$D/pids" ]; then
    die "$D/pids exists: a cluster started by this script may still run; run .ci/slurm/stop.sh first"
fi

# --- 1. packages -------------------------------------------------------------------------------
need=()
command -v slurmctld >/dev/null || need+=(slurmctld)
command -v slurmd >/dev/null || need+=(slurmd)
command -v sbatch >/dev/null || need+=(slurm-client)
command -v munged >/dev/null || need+=(munge)
command -v slurmdbd >/dev/null || need+=(slurmdbd)
command -v mariadbd >/dev/null || need+=(mariadb-server)
if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${need[@]}" >"${TMPDIR:-/tmp}/photoz-slurm-apt.log" 2>&1; then
        log "apt-get install failed; running apt-get update and retrying"
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends "${need[@]}" >"${TMPDIR:-/tmp}/photoz-slurm-apt.log" 2>&1 \
            || { tail -20 "${TMPDIR:-/tmp}/photoz-slurm-apt.log" >&2; die "apt-get install ${need[*]} failed"; }
    fi
fi

# Refuse to share ports with daemons this script did not start.
for p in $DB_PORT $CTLD_PORT $SLURMD_PORT $DBD_PORT; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        die "port $p is already in use; stop whatever listens there or change the ports in $0"
    fi
done

# --- 2. configuration ----------------------------------------------------------------------------
rm -rf "$D"
mkdir -p "$D"/{log,run,spool/slurmctld,spool/slurmd,mysql,mysql-run,scratch}
HOST=$(hostname -s)
# The node advertises 8 CPUs (or nproc, if more) even on a 2-core machine, so that the jobs sized by
# profiles/slurm (train_network: cpus_per_task 4) fit and the three independent trainings of the
# test run side by side instead of queueing one after the other; SlurmdParameters=config_overrides
# makes slurmd accept the difference (Slurm documents it as "generally only useful for testing
# purposes"). Set PHOTOZ_SLURM_CPUS to change it.
NCPU=${PHOTOZ_SLURM_CPUS:-$(nproc)}
[ "$NCPU" -ge 8 ] || [ -n "${PHOTOZ_SLURM_CPUS:-}" ] || NCPU=8
MEM_MB=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)  # leave 10 % for the OS
MARK="# Written by photoz .ci/slurm/start.sh"
for f in /etc/slurm/slurm.conf /etc/slurm/slurmdbd.conf /etc/slurm/gres.conf; do
    if [ -e "$f" ] && ! grep -qxF "$MARK" "$f"; then
        die "$f exists and was not written by this script: this machine has its own SLURM; not touching it"
    fi
done
unset SLURM_CONF
mkdir -p /etc/slurm
: >"$D/pids"
record() { echo "$1 $2" >>"$D/pids"; [ "$1" = file ] || log "started $1 (pid $2)"; }
# On any failure from here on, stop whatever this script already started.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
trap 'rc=$?; if [ $rc -ne 0 ]; then log "start failed: stopping what was started"; bash "$HERE/stop.sh"; fi' EXIT

record file /etc/slurm/slurm.conf     # stop.sh removes the files it finds recorded (and marked)
cat >/etc/slurm/slurm.conf <<EOF
$MARK
# One-node CI cluster for photoz (issue 8): no cgroups, no systemd. State in $D.
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
ReturnToService=2
SlurmdParameters=config_overrides
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
StateSaveLocation=$D/spool/slurmctld
SlurmdSpoolDir=$D/spool/slurmd
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# sbatch without --mem would otherwise claim the whole node (notes, problem 4)
DefMemPerCPU=500
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
# finished jobs stay visible to squeue for 5 min (fallback status path of the plugin)
MinJobAge=300
InactiveLimit=0
KillWait=30
Waittime=0
# One pretend GPU (a GRES whose device file is /dev/null), so that a job asking for --gpus=1 is
# scheduled as on a GPU node; CUDA stays absent and PyTorch falls back to the CPU.
GresTypes=gpu
AccountingStorageTRES=gres/gpu
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$NCPU RealMemory=$MEM_MB Gres=gpu:1 State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

record file /etc/slurm/gres.conf
cat >/etc/slurm/gres.conf <<EOF
$MARK
NodeName=$HOST Name=gpu File=/dev/null
EOF

record file /etc/slurm/slurmdbd.conf
cat >/etc/slurm/slurmdbd.conf <<EOF
$MARK
AuthType=auth/munge
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
LogFile=$D/log/slurmdbd.log
PidFile=$D/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
EOF
chmod 600 /etc/slurm/slurmdbd.conf   # slurmdbd refuses a world-readable config

# wait_for <seconds> <description> <command...>: poll until the command succeeds
wait_for() {
    local t=$1 what=$2; shift 2
    local i
    for ((i = 0; i < t * 5; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    die "timed out after ${t}s waiting for $what (logs in $D/log)"
}
pid_from() { # pid_from <pidfile> <seconds>
    wait_for "$2" "pid file $1" test -s "$1"
    cat "$1"
}

# --- 3. daemons ----------------------------------------------------------------------------------
# munge: reuse a running munged (not ours to stop), otherwise start one as the munge user.
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "munged already running: using it, stop.sh will leave it alone"
else
    [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
        || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; }
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged
    record munged "$(pid_from /run/munge/munged.pid 10)"
fi
wait_for 10 "munge" sh -c 'munge -n | unmunge'

# MariaDB with a private data directory, bound to 127.0.0.1:$DB_PORT.
chown mysql:mysql "$D/mysql" "$D/mysql-run"   # mariadbd drops to the mysql user
mariadb-install-db --no-defaults --user=mysql --datadir="$D/mysql" --skip-test-db \
    --auth-root-authentication-method=socket >"$D/log/mariadb-install.log" 2>&1 \
    || die "mariadb-install-db failed, see $D/log/mariadb-install.log"
mariadbd --no-defaults --user=mysql --datadir="$D/mysql" --socket="$D/mysql-run/mysqld.sock" \
    --port=$DB_PORT --bind-address=127.0.0.1 --pid-file="$D/mysql-run/mariadbd.pid" \
    --log-error="$D/mysql-run/mariadb.err" --innodb-buffer-pool-size=64M </dev/null >/dev/null 2>&1 &
record mariadbd $!
wait_for 30 "mariadb (log: $D/mysql-run/mariadb.err)" mariadb --no-defaults -S "$D/mysql-run/mysqld.sock" -u root -e "SELECT 1"
mariadb --no-defaults -S "$D/mysql-run/mysqld.sock" -u root -e "
    CREATE DATABASE slurm_acct_db;
    CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmpw';
    CREATE USER 'slurm'@'localhost' IDENTIFIED BY 'slurmpw';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"

slurmdbd
record slurmdbd "$(pid_from "$D/run/slurmdbd.pid" 20)"
wait_for 30 "slurmdbd" sacctmgr -n list cluster
sacctmgr -i add cluster "$CLUSTER" >/dev/null
sacctmgr -i add account "$ACCOUNT" Description="photoz CI" Organization=photoz >/dev/null
sacctmgr -i add user "$(id -un)" Account="$ACCOUNT" DefaultAccount="$ACCOUNT" >/dev/null

slurmctld -c   # -c: start from a clean state
record slurmctld "$(pid_from "$D/run/slurmctld.pid" 20)"
slurmd
record slurmd "$(pid_from "$D/run/slurmd.pid" 20)"

# --- 4. ready? -----------------------------------------------------------------------------------
wait_for 60 "node $HOST to become idle" sh -c "sinfo -h -n $HOST -o %T | grep -qx idle"
(cd "$D/scratch" && srun -A "$ACCOUNT" -t 1 --mem 50 hostname >/dev/null) \
    || die "srun smoke test failed (logs in $D/log)"
log "cluster $CLUSTER up: partition=$PARTITION account=$ACCOUNT node=$HOST cpus=$NCPU mem=${MEM_MB}MB"
