#!/usr/bin/env bash
# One-shot verification of mlp-core's GPU paths, for a GPU machine lent for a few minutes.
#
#   OUT=/some/folder bash tools/gpu_check.sh
#
# Run from a copy of the working tree. It installs what the machine lacks from the wheels in
# wheels/ (README: "GPU"), installs mlp-core without touching the machine's CuPy, PyTorch or JAX,
# then runs `mlp-core check --device all`, the GPU-marked tests (`pytest -m gpu`) and a short GPU
# bench (the seed configuration at batch 500 and 10000 on generated data of Fashion-MNIST's shape,
# and a scaling sweep on models big enough for a GPU to win). Every step has a time limit, so a
# failing step never eats the rest, and the whole fits in 8 minutes. Everything lands in $OUT:
# one log per step, steps.log, status.txt (step, exit status) and summary.txt.
#
# Without a GPU it runs the same steps, says why the GPU parts are skipped, and exits 0 when
# everything that could run passed (that is how CI tests this script).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
: > "$OUT/status.txt"
PY=${PYTHON:-python3}
failed=0

log() { echo "[gpu_check $(date +%H:%M:%S)] $*" | tee -a "$OUT/steps.log" >&2; }

# step NAME SECONDS [OK_STATUSES] -- COMMAND...: run with a time limit, output to $OUT/NAME.txt
step() {
  local name=$1 limit=$2 ok=$3
  shift 4
  log "$name (at most ${limit} s): $*"
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.txt" 2>&1
  local rc=$?
  echo "$name $rc" >> "$OUT/status.txt"
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

# 2. mlp-core itself, without its dependencies (the image's CuPy, torch and JAX stay); skipped
#    where this tree is installed already (a developer's machine, CI).
here=$($PY -c "import mlp_core, pathlib; print(pathlib.Path(mlp_core.__file__).parent.parent)" \
  2>/dev/null)
if [ "$here" = "$PWD" ]; then
  log "install: mlp-core is installed from this tree already"
else
  step install 45 "0" -- bash -c "$PY -m pip install --no-deps --no-build-isolation . ||
    $PY -m pip install --no-deps --no-index --find-links wheels ."
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
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true

# 4. Every backend on every device: works, and agrees with NumPy float64.
step check 120 "0" -- $PY -m mlp_core check --device all --json "$OUT/check.json"

# 5. The tests that need a device (they skip, with the reason, where there is none).
step pytest-gpu 120 "0 5" -- $PY -m pytest -m gpu -q -rs -p no:cacheprovider \
  --junitxml="$OUT/pytest-gpu.xml"

# 6. A short GPU bench: the seed configuration, then a sweep of models big enough for a GPU.
if [ -n "$gpu" ]; then
  impls=cupy,torch,torch-compiled,jax
  data=(--dataset synthetic --samples 60000 --features 784 --classes 10)
  step bench-seed 90 "0 1" -- $PY -m mlp_core bench --device gpu --impl "$impls" "${data[@]}" \
    --batch-sizes 500,10000 --epochs 10 --repeat 1 --no-floor --out "$OUT/bench-seed"
  step bench-sweep 75 "0 1" -- $PY -m mlp_core bench --device gpu --impl cupy,torch,jax \
    "${data[@]}" --layers 70,30 --layers 1024,1024 --layers 4096,4096 \
    --batch-sizes 256,4096,16384 --steps 20 --repeat 1 --no-floor --out "$OUT/bench-sweep"
else
  echo "bench-seed skipped" >> "$OUT/status.txt"
  echo "bench-sweep skipped" >> "$OUT/status.txt"
  log "bench-seed, bench-sweep: skipped (no GPU)"
fi

{
  echo "mlp-core GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), on $(hostname)"
  echo "GPU: ${gpu:-none (GPU parts skipped: no GPU visible here)}"
  echo
  column -t "$OUT/status.txt" 2>/dev/null || cat "$OUT/status.txt"
  echo
  [ -f "$OUT/check.txt" ] && cat "$OUT/check.txt"
} > "$OUT/summary.txt"
log "summary in $OUT/summary.txt"
exit $failed
