#!/usr/bin/env bash
# CI: run the .test/ workflow through profiles/slurm on a real one-node SLURM (issue 8).
#
#   bash .ci/slurm/run_test.sh          (as root, on a Debian 12 machine; called from .ci/run)
#
# 1. starts the cluster with .ci/slurm/start.sh; a trap ALWAYS runs .ci/slurm/stop.sh, which stops
#    only the daemons start.sh recorded;
# 2. failure check: a one-rule workflow whose job exits 3 must make snakemake exit non-zero because
#    of the FAILED SLURM job (a rule that fails on SLURM fails the run); it runs beside step 3;
#    GPU check: a rule with resources gpu=1 gets --gpus=1 (the cluster has one pretend GPU), SLURM sets
#    CUDA_VISIBLE_DEVICES, and the training's device choice falls back to the CPU; also beside step 3;
# 3. runs the .test/ workflow exactly as tests/test_workflow.py does (root Snakefile, .test/config.yaml,
#    a fresh working directory) but with --profile profiles/slurm, i.e. the profile users get, with
#    only two CI overrides: status checks after 2 s instead of 40 s (the CI jobs take seconds; the
#    plugin's default would add minutes) and keeping the per-job SLURM logs for the check below;
# 4. checks in sacct that every job of the run's job table ran as its own SLURM job and
#    COMPLETED -- in particular each simulate_images shard and each train_network network -- and
#    that the plugin wrote a per-job log for each.
# Exits non-zero if any step fails. Environment: PHOTOZ_VENV (default <repo>/.venv),
# PHOTOZ_SLURM_DIR (cluster state, default /tmp/photoz-slurm), PHOTOZ_SLURM_WORK (working
# directory of the run, default a new mktemp -d; kept after the run for inspection).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/.ci/slurm"
VENV=${PHOTOZ_VENV:-$ROOT/.venv}
PY="$VENV/bin/python"
SNAKEMAKE="$VENV/bin/snakemake"
WORK=${PHOTOZ_SLURM_WORK:-$(mktemp -d /tmp/photoz-slurm-run.XXXXXX)}
PLUGIN_VERSION=2.8.0   # the version this test was written against (pip: snakemake-executor-plugin-slurm)

log() { echo "[slurm-ci $(date +%H:%M:%S)] $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
t0=$(date +%s)

[ -x "$SNAKEMAKE" ] || fail "no snakemake in $VENV (run the README's install step first)"
if ! "$PY" -c "import snakemake_executor_plugin_slurm" 2>/dev/null; then
    log "installing snakemake-executor-plugin-slurm==$PLUGIN_VERSION into $VENV"
    "$VENV/bin/pip" install -q "snakemake-executor-plugin-slurm==$PLUGIN_VERSION"
fi
log "plugin: $("$VENV/bin/pip" show snakemake-executor-plugin-slurm 2>/dev/null | awk '/^Version/ {print $2}')"

# --- 1. cluster ---------------------------------------------------------------------------------
FAIL_PID= GPU_PID=
trap 'rc=$?; for p in $FAIL_PID $GPU_PID; do kill "$p" 2>/dev/null; done; bash "$HERE/stop.sh" || true; log "total $(( $(date +%s) - t0 )) s, exit $rc"; exit $rc' EXIT
bash "$HERE/start.sh"
log "cluster up after $(( $(date +%s) - t0 )) s"
SINCE=$(date +%Y-%m-%dT%H:%M:%S)

SLURM_OVERRIDES=(--slurm-init-seconds-before-status-checks 2 --slurm-keep-successful-logs)

# --- 2. a failing rule must fail the run (runs in the background, beside step 3) ----------------
FAILDIR="$WORK/failing"
mkdir -p "$FAILDIR"
cat >"$FAILDIR/Snakefile" <<'EOF'
rule must_fail:
    output: "never.txt"
    resources: mem_mb=100, runtime=2
    shell: "echo this job fails on purpose; exit 3"
EOF
log "failure check started: a rule exiting 3 on SLURM must fail snakemake"
(cd "$FAILDIR" && exec "$SNAKEMAKE" --profile "$ROOT/profiles/slurm" --retries 0 "${SLURM_OVERRIDES[@]}" \
    >"$FAILDIR/snakemake.log" 2>&1) &
FAIL_PID=$!
check_failure_run() {
    local frc=0
    wait "$FAIL_PID" || frc=$?
    FAIL_PID=
    [ "$frc" -ne 0 ] || fail "snakemake exited 0 although its SLURM job exited 3 (log: $FAILDIR/snakemake.log)"
    grep -q "SLURM status is: 'FAILED'" "$FAILDIR/snakemake.log" \
        || fail "snakemake failed, but not because of the FAILED SLURM job (log: $FAILDIR/snakemake.log)"
    log "failure check passed: snakemake exit $frc, $(grep -o "SLURM-job '[0-9]*' failed" "$FAILDIR/snakemake.log" | head -1)"
}

# --- 2b. a job asking for a GPU gets one from SLURM and the training code falls back to the CPU ---
# The cluster has one pretend GPU (start.sh); a rule with resources gpu=1 -- what train_network
# declares when config train.gpus is 1 -- must be submitted with --gpus=1 (sacct AllocTRES shows
# gres/gpu=1), SLURM must hand it CUDA_VISIBLE_DEVICES, and photoz.train.settings.resolve_device("auto")
# must pick the CPU because there is no CUDA. Also runs beside step 3.
GPUDIR="$WORK/gpu"
mkdir -p "$GPUDIR"
cat >"$GPUDIR/Snakefile" <<EOF
rule gpu_job:
    output: "gpu.txt"
    resources: mem_mb=1000, runtime=5, gpu=1
    shell: "echo CUDA_VISIBLE_DEVICES=\${{CUDA_VISIBLE_DEVICES-unset}} > {output}; '$PY' -c 'from photoz.train.network import resolve_device; print(\"device=\" + str(resolve_device(\"auto\")))' >> {output}"
EOF
(cd "$GPUDIR" && exec "$SNAKEMAKE" --profile "$ROOT/profiles/slurm" --retries 0 "${SLURM_OVERRIDES[@]}" \
    >"$GPUDIR/snakemake.log" 2>&1) &
GPU_PID=$!
check_gpu_run() {
    local grc=0
    wait "$GPU_PID" || grc=$?
    GPU_PID=
    [ "$grc" -eq 0 ] || { tail -30 "$GPUDIR/snakemake.log" >&2; fail "the GPU job failed (log: $GPUDIR/snakemake.log)"; }
    grep -qx "CUDA_VISIBLE_DEVICES=0" "$GPUDIR/gpu.txt" || fail "SLURM gave the GPU job no GPU: $(cat "$GPUDIR/gpu.txt")"
    grep -qx "device=cpu" "$GPUDIR/gpu.txt" || fail "training device without CUDA is not the CPU: $(cat "$GPUDIR/gpu.txt")"
    sacct -X -n -P -S "$SINCE" --format=Comment,AllocTRES | grep -q '^rule_gpu_job|.*gres/gpu=1' \
        || fail "sacct shows no gres/gpu=1 for the GPU job"
    log "GPU check passed: --gpus=1 allocated (gres/gpu=1), $(tr '\n' ' ' <"$GPUDIR/gpu.txt")"
}

# --- 3. the .test/ workflow through the SLURM profile ---------------------------------------------
RUN="$WORK/test"
mkdir -p "$RUN"
SM_ARGS=(--snakefile "$ROOT/Snakefile" --directory "$RUN" --configfile "$ROOT/.test/config.yaml")
log "running the .test/ workflow through profiles/slurm (log: $RUN/snakemake.log)"
w0=$(date +%s)
set +e
(cd "$ROOT" && PYTHONUNBUFFERED=1 "$SNAKEMAKE" "${SM_ARGS[@]}" --profile "$ROOT/profiles/slurm" \
    "${SLURM_OVERRIDES[@]}" >"$RUN/snakemake.log" 2>&1)
src=$?
set -e
log "workflow finished in $(( $(date +%s) - w0 )) s with exit $src"
if [ "$src" -ne 0 ]; then
    tail -60 "$RUN/snakemake.log" >&2
    fail "the .test/ workflow failed on SLURM (full log: $RUN/snakemake.log, job logs: $RUN/.snakemake/slurm_logs)"
fi

check_failure_run
check_gpu_run

# --- 4. every job was a SLURM job and COMPLETED ---------------------------------------------------
# the run's own "Job stats" table (printed before the first job): "<rule>  <count>" lines up to "total"
awk '/^Job stats:/ {on=1; next} on && /^total/ {exit} on && NF==2 && $2 ~ /^[0-9]+$/ {print $1, $2}' \
    "$RUN/snakemake.log" >"$WORK/expected_jobs.txt"
[ -s "$WORK/expected_jobs.txt" ] || fail "could not read the run's job table ($RUN/snakemake.log)"
log "expected jobs: $(tr '\n' ' ' <"$WORK/expected_jobs.txt")"
sacct -X -n -P -S "$SINCE" --format=JobID,Comment,State,Elapsed >"$WORK/sacct.txt"
"$PY" - "$WORK/expected_jobs.txt" "$WORK/sacct.txt" "$RUN/.snakemake/slurm_logs" <<'EOF'
"""Compare the run's job table with the SLURM jobs that sacct recorded."""
import collections
import pathlib
import re
import sys

expected = dict(line.split() for line in open(sys.argv[1]) if line.strip())
expected = {rule: int(n) for rule, n in expected.items() if rule != "all"}  # `all` is a local rule
completed, failed = collections.Counter(), collections.Counter()
for line in open(sys.argv[2]):
    jobid, comment, state, *_ = line.rstrip("\n").split("|")
    m = re.match(r"rule_(.+?)(_wildcards_.*)?$", comment)
    if not m or m.group(1) == "must_fail":
        continue
    (completed if state == "COMPLETED" else failed)[m.group(1)] += 1
logdir = pathlib.Path(sys.argv[3])
logs = collections.Counter(p.relative_to(logdir).parts[0].removeprefix("rule_")
                           for p in logdir.rglob("*.log"))
problems = []
print(f"{'rule':<20} {'expected':>8} {'sacct COMPLETED':>16} {'not completed':>14} {'job logs':>9}")
for rule, n in sorted(expected.items()):
    print(f"{rule:<20} {n:>8} {completed[rule]:>16} {failed[rule]:>14} {logs[rule]:>9}")
    if completed[rule] != n:
        problems.append(f"{rule}: {n} jobs expected, {completed[rule]} COMPLETED in sacct")
    if logs[rule] < n:
        problems.append(f"{rule}: {n} jobs expected, {logs[rule]} SLURM job logs")
for rule in ("simulate_images", "train_network"):
    if expected.get(rule, 0) == 0:
        problems.append(f"{rule}: no jobs in the job table; the test must run shards and trainings")
if failed:
    print(f"note: jobs that did not complete (retried): {dict(failed)}")
if problems:
    sys.exit("FAIL: " + "; ".join(problems))
print(f"OK: all {sum(expected.values())} jobs ran as SLURM jobs and completed")
EOF
# the profile's sizing helper must read this run's benchmark files
"$PY" "$ROOT/profiles/slurm/resources_from_benchmarks.py" "$RUN/benchmarks" >"$WORK/resources.yaml" \
    || fail "profiles/slurm/resources_from_benchmarks.py failed on $RUN/benchmarks"
for rule in simulate_images train_network; do
    grep -q "^  $rule:" "$WORK/resources.yaml" || fail "resources_from_benchmarks.py printed nothing for $rule"
done
log "sacct per job:"
sed 's/^/    /' "$WORK/sacct.txt" >&2
log "PASS in $(( $(date +%s) - t0 )) s (run directory $WORK)"
