#!/usr/bin/env bash
# Stop the one-node CI SLURM cluster started by .ci/slurm/start.sh -- and only that.
#
# Reads "name pid" lines from $PHOTOZ_SLURM_DIR/pids (default /tmp/photoz-slurm/pids), cancels the
# jobs still queued on that cluster, then sends SIGTERM to each recorded daemon in reverse start
# order, checking first that the PID still belongs to a process of that name (a recycled PID is
# left alone). slurmctld needs a few seconds to save its state, so each daemon gets 30 s before
# SIGKILL. A munged that was already running before start.sh is not in the file and keeps running.
# "file PATH" lines are the /etc/slurm configs start.sh wrote; they are removed if they still carry
# start.sh's marker line.
# Safe to call twice; exits 0 when there is nothing to stop.
set -uo pipefail

D=${PHOTOZ_SLURM_DIR:-/tmp/photoz-slurm}
PIDS="$D/pids"
log() { echo "[slurm-stop $(date +%H:%M:%S)] $*" >&2; }

if [ ! -s "$PIDS" ]; then
    log "no $PIDS: nothing to stop"
    exit 0
fi

# Cancel leftover jobs on *this* cluster (SLURM_CONF points the client at it) while slurmctld runs.
if grep -q '^slurmctld ' "$PIDS" && [ -f /etc/slurm/slurm.conf ]; then
    timeout 10 scancel -u "$(id -un)" 2>/dev/null || true
fi
MARK="# Written by photoz .ci/slurm/start.sh"

rc=0
# reverse order: slurmd, slurmctld, slurmdbd, mariadbd, munged
while read -r name pid; do
    [ -n "${name:-}" ] && [ -n "${pid:-}" ] || continue
    if [ "$name" = file ]; then
        if [ -f "$pid" ] && grep -qxF "$MARK" "$pid"; then rm -f "$pid" && log "removed $pid"; fi
        continue
    fi
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    if [ -z "$comm" ]; then
        log "$name (pid $pid) already gone"
        continue
    fi
    if [ "$comm" != "$name" ]; then
        log "pid $pid is now '$comm', not $name: leaving it alone"
        continue
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        [ -d "/proc/$pid" ] || break
        # a zombie (our own child, e.g. mariadbd started with &) counts as stopped
        [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = "Z" ] && break
        sleep 0.2
    done
    if [ -d "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != "Z" ]; then
        log "$name (pid $pid) ignored SIGTERM for 30 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || rc=1
    else
        log "stopped $name (pid $pid)"
    fi
done < <(tac "$PIDS")

rm -f "$PIDS"
exit $rc
