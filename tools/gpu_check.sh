#!/usr/bin/env bash
# One-shot verification of mlp-core's GPU paths, for a GPU machine lent for a few minutes.
#
#   OUT=/some/folder bash tools/gpu_check.sh
#
# Run from a copy of the working tree. It installs what the machine lacks from the wheels in
# wheels/ (README: "GPU"), installs mlp-core (editable, without its dependencies: the machine's
# CuPy, PyTorch and JAX stay), then runs `mlp-core check --device gpu`, the GPU-marked tests
# (`pytest -m gpu`) and a short GPU bench (the seed configuration at batch 500 and 10000 on
# generated data of Fashion-MNIST's shape, float32 and mixed_bfloat16, and a sweep of models big
# enough for a GPU to win). Every step has a time limit, so a failing step never eats the rest,
# and the whole fits in 8.5 minutes. Two files land in $OUT: summary.txt (the steps' exit statuses and the check's table)
# and gpu-check.tgz (every step's log, steps.log, check.json, the tests' JUnit XML, the benches).
#
# Without a GPU it runs the same steps, says why the GPU parts are skipped, and exits 0 when
# everything that could run passed (that is how CI tests this script).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
WORK=$(mktemp -d)  # everything, packed into $OUT/gpu-check.tgz at the end (few files come back)
: > "$WORK/status.txt"
PY=${PYTHON:-python3}
failed=0

log() { echo "[gpu_check $(date +%H:%M:%S)] $*" | tee -a "$WORK/steps.log" >&2; }

# step NAME SECONDS OK_STATUSES -- COMMAND...: run with a time limit, output to $WORK/NAME.txt
step() {
  local name=$1 limit=$2 ok=$3
  shift 4
  log "$name (at most ${limit} s): $*"
  timeout --kill-after=10 "$limit" "$@" > "$WORK/$name.txt" 2>&1
  local rc=$?
  echo "$name $rc" >> "$WORK/status.txt"
  if [[ " $ok " == *" $rc "* ]]; then
    log "$name: done (exit $rc)"
  else
    [ "$rc" = 124 ] && log "$name: stopped at its time limit" || log "$name: FAILED (exit $rc)"
    failed=1
  fi
}

# 1. The pure-Python libraries the image lacks, from wheels/ (no index: the machine is offline).
missing=$($PY -c "
import importlib.util as u
print(' '.join(m for m in ('array_api_compat', 'array_api_strict', 'hypothesis')
               if u.find_spec(m) is None))")
if [ -n "$missing" ]; then
  step install-deps 30 "0" -- $PY -m pip install --no-index --find-links wheels \
    ${missing//_/-}
else
  log "install-deps: array-api-compat, array-api-strict and hypothesis are there"
fi

# 2. mlp-core itself, editable (run from this tree, `import mlp_core` finds ./mlp_core first, and
#    only the install maps backends/ to mlp_core.backends), without its dependencies: the image's
#    CuPy, torch and JAX stay. Skipped where this tree is installed already (a developer's, CI).
if $PY -c "import mlp_core.backends" 2>/dev/null; then
  log "install: mlp-core is installed from this tree already"
else
  step install 50 "0" -- bash -c "$PY -m pip install --no-deps --no-build-isolation -e . ||
    $PY -m pip install --no-deps --no-index --find-links wheels -e ."
fi

# 3. Is there a GPU? (the GPU steps below only make sense with one)
gpu=$($PY - <<'PY' 2>/dev/null
import shutil, subprocess
if shutil.which("nvidia-smi"):
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.strip()
    print(out.splitlines()[0] if out else "")
PY
)
if [ -n "$gpu" ]; then
  log "GPU: $gpu"
else
  log "GPU parts skipped: no GPU visible here (nvidia-smi finds none)"
fi
nvidia-smi > "$WORK/nvidia-smi.txt" 2>&1 || true

# 4. Every backend on the GPU: works, and agrees with NumPy float64 (the CPU is CI's to check).
step check 90 "0" -- $PY -m mlp_core check --device gpu --json "$WORK/check.json"

# 5. The tests that need a device (they skip, with the reason, where there is none).
step pytest-gpu 150 "0 5" -- $PY -m pytest -m gpu -q -rs -p no:cacheprovider \
  --junitxml="$WORK/pytest-gpu.xml"

# 6. A short GPU bench: the seed configuration, then a sweep of models big enough for a GPU.
if [ -n "$gpu" ]; then
  impls=cupy,torch,torch-compiled,jax,torch+mixed_bfloat16,jax+mixed_bfloat16
  data=(--dataset synthetic --samples 60000 --features 784 --classes 10)
  step bench-seed 120 "0" -- $PY -m mlp_core bench --device gpu --impl "$impls" "${data[@]}" \
    --batch-sizes 500,10000 --epochs 10 --repeat 1 --no-floor --out "$WORK/bench-seed"
  step bench-sweep 70 "0" -- $PY -m mlp_core bench --device gpu --impl cupy,torch,jax \
    "${data[@]}" --layers 1024,1024 --layers 4096,4096 --batch-sizes 1024,16384 --steps 20 \
    --repeat 1 --no-floor --out "$WORK/bench-sweep"
else
  echo "bench-seed skipped" >> "$WORK/status.txt"
  echo "bench-sweep skipped" >> "$WORK/status.txt"
  log "bench-seed, bench-sweep: skipped (no GPU)"
fi

{
  echo "mlp-core GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), on $(hostname)"
  echo "GPU: ${gpu:-none (GPU parts skipped: no GPU visible here)}"
  echo
  column -t "$WORK/status.txt" 2>/dev/null || cat "$WORK/status.txt"
  echo
  [ -f "$WORK/check.txt" ] && cat "$WORK/check.txt"
} > "$WORK/summary.txt"
log "summary in $OUT/summary.txt, everything in $OUT/gpu-check.tgz"
cp "$WORK/summary.txt" "$OUT/summary.txt"
tar czf "$OUT/gpu-check.tgz" -C "$WORK" .
rm -rf "$WORK"
exit $failed
