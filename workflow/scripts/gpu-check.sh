#!/usr/bin/env bash
# The prepared GPU check (`make gpu-check`): ≤ 8 minutes on one GPU, run as it is on any machine with CUDA.
#   1. the machine: GPU, driver, torch;
#   2. the cheapest published cell of the repro grid on CUDA: DC, IPC 1, clean Fashion-MNIST (70.5 ± 0.6, DC
#      Tab. 1) — 1,000 iterations, 20 networks × 300 epochs, the repro grid's settings, timed (≈ 135 s on an H200);
#   3. the equivalence tests (tests/test_accel.py) on CUDA: compiled = eager, bf16 within tolerance, stacked = one
#      network at a time, classes batched = per class — 4 at a time where pytest-xdist is there (on a GPU their
#      compiles, not their arithmetic, take the time: ≈ 4 min one at a time on an H200);
#   4. `ddstudy bench --device cuda --json --stacked`: every fast path timed against the straightforward one (rows
#      are written as they come, so a bench cut short by its limit still reports the cases it reached).
# The order puts the published number first and the bench, the longest and least decisive, last; the limits
# (180 + 180 + 120 s) keep the whole under 8 minutes.
# Figures go to $GPU_CHECK_OUT (default gpu-check/): bench.jsonl, tests.log, repro-dc.json, summary.md — the
# numbers for docs/performance.md and docs/reproduction.md.
#
# Environment: PYTHON (default .venv/bin/python, else python3 with src/ on PYTHONPATH: an image with torch),
# DDSTUDY_FASHION_MNIST_DIR (the four idx .gz files; default the Debian package's folder), GPU_CHECK_OUT,
# GPU_CHECK_DEVICE (default cuda; cpu only to try the script itself), GPU_CHECK_ITERATIONS (default 1000),
# GPU_CHECK_NUM_EVAL (default 20).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${GPU_CHECK_OUT:-gpu-check}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
ITERATIONS=${GPU_CHECK_ITERATIONS:-1000}
NUM_EVAL=${GPU_CHECK_NUM_EVAL:-20}
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$OUT"
status=0
step() { echo "== $(date -u +%H:%M:%S) $*"; }
seconds() { echo $(( $(date +%s) - $1 )); }

step "machine"
{ nvidia-smi -L 2>/dev/null || echo "nvidia-smi: not found"; } | tee "$OUT/machine.txt"
"$PYTHON" - <<'EOF' | tee -a "$OUT/machine.txt" || status=1
import torch
print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
if torch.cuda.is_available():
    print(f"device: {torch.cuda.get_device_name(0)}, capability {torch.cuda.get_device_capability(0)}")
    print(f"torch's default: cuDNN TF32 {torch.backends.cudnn.allow_tf32} (ddstudy's jobs compute fp32 in IEEE fp32)")
EOF

step "repro cell: DC, IPC 1, clean Fashion-MNIST, on $DEVICE"
t=$(date +%s)
work=$(mktemp -d)
timeout 180 bash -c '
  "$0" -m ddstudy data build --source fashion-mnist --out "$1/fashion-mnist-clean" &&
  "$0" -m ddstudy distill --method dc --ipc 1 --model ConvNet --iterations "$2" --device "$3" \
    --compile --dataset-dir "$1/fashion-mnist-clean" --out "$1/dc_ipc1" &&
  "$0" -m ddstudy evaluate --num-eval "$4" --device "$3" --compile --vectorize --arch ConvNet \
    --synthetic "$1/dc_ipc1" --dataset-dir "$1/fashion-mnist-clean" --out "$5/repro-dc.json"
' "$PYTHON" "$work" "$ITERATIONS" "$DEVICE" "$NUM_EVAL" "$OUT" > "$OUT/repro.log" 2>&1 \
  || { echo "repro cell failed (rc $?): see $OUT/repro.log"; status=1; }
rm -rf "$work"
echo "repro cell: $(seconds "$t") s" | tee "$OUT/repro-time.txt"

step "equivalence tests on $DEVICE"
t=$(date +%s)
parallel=()
"$PYTHON" -c "import xdist" 2>/dev/null && parallel=(-n 4)
# -o log_level=INFO: a failure shows ddstudy's log, not torch's DEBUG trace of every compile
DDSTUDY_TEST_DEVICE=$DEVICE timeout 180 "$PYTHON" -m pytest -q -p no:cacheprovider "${parallel[@]}" -o log_level=INFO \
  --tb=short -rf tests/test_accel.py > "$OUT/tests.log" 2>&1 \
  || { echo "equivalence tests failed or were cut short (rc $?): see $OUT/tests.log"; status=1; }
tail -n 1 "$OUT/tests.log"; echo "tests: $(seconds "$t") s"

step "bench on $DEVICE"
t=$(date +%s)
timeout 120 "$PYTHON" -m ddstudy bench --device "$DEVICE" --json --stacked --repeats 3 > "$OUT/bench.jsonl" 2> "$OUT/bench.log" \
  || { echo "bench failed or was cut short (rc $?): see $OUT/bench.log"; status=1; }
echo "bench: $(seconds "$t") s, $(wc -l < "$OUT/bench.jsonl") rows"

step "summary"
"$PYTHON" - "$OUT" <<'EOF' | tee "$OUT/summary.md"
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
print("# GPU check\n")
print((out / "machine.txt").read_text().strip().replace("\n", "  \n"), "\n")
rows = [json.loads(line) for line in (out / "bench.jsonl").read_text().splitlines() if line.strip()] if (out / "bench.jsonl").is_file() else []
if rows:
    keys = [k for k in ("case", "path", "seconds", "compile_s", "cpu_per_wall", "gflops", "peak_rss_mb", "device") if k in rows[0]]
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(f"{v:.3g}" if isinstance(v := row.get(k, ""), float) else str(v) for k in keys) + " |")
tests = (out / "tests.log").read_text().strip().splitlines() if (out / "tests.log").is_file() else []
last = tests[-1] if tests else "not run"
if tests and not any(word in last for word in ("passed", "failed", "error")):  # killed by its time limit
    done = "".join(line for line in tests if line and set(line) <= set(".FEsxX"))
    last = f"cut short by the time limit after {len(done)} tests ({done.count('F')} failed)"
print(f"\nEquivalence tests: {last}\n")
for line in tests:
    if line.startswith("FAILED "):
        print(f"- {line}")
record = out / "repro-dc.json"
if record.is_file():
    data = json.loads(record.read_text())
    acc, std = 100 * data["acc_mean"], 100 * data["acc_std"]
    print(f"DC IPC 1, clean Fashion-MNIST, {data['n_runs']} nets: {acc:.2f} ± {std:.2f} % (published 70.5 ± 0.6)")
EOF
exit $status
