#!/usr/bin/env bash
# One prepared GPU check for danlu's Triton kernels (issue #21): `pytest -m gpu`, then the attention
# benchmark tables, with markdown and logs written to OUTDIR. Budget: <= 8 minutes on one H100.
#
#   benchmarks/gpu_check.sh OUTDIR
#
# Steps (each under its own `timeout`, so one slow step cannot eat the others' time):
#   1. pytest -m gpu tests/                        DANLU_TRITON_TUNE=first (one autotune config per kernel)
#   2-5. attention_gpu.py --only {flash,linear} --d {64,128}: full autotuning, the measured tables
# All steps share one Triton cache (OUTDIR/triton_cache unless TRITON_CACHE_DIR is set), so a kernel
# compiled once is not compiled again, and a rerun with the same OUTDIR starts warm.
# Autotune timings are cached too (TRITON_CACHE_AUTOTUNING=1).
# Outputs: OUTDIR/summary.md (step, status, seconds, then the tables), pytest_gpu.log, and per table
# {flash,linear}_d{64,128}.md and .log. Exit status: 0 if every step passed, 1 if one failed or timed out,
# 2 on bad usage or when CUDA is not available (nothing is run then).
# Overrides: PYTHON (default .venv/bin/python if present, else python), GPU_CHECK_PYTEST_S (150),
# GPU_CHECK_FLASH_S and GPU_CHECK_LINEAR_S (75 s per head dim each; 150 + 4 x 75 = 450 s in all),
# GPU_CHECK_PYTEST_ARGS (extra pytest arguments).
set -u

if [ "$#" -ne 1 ] || [ -z "$1" ] || [ "${1#-}" != "$1" ]; then
    echo "usage: benchmarks/gpu_check.sh OUTDIR   (writes summary.md, logs and tables into OUTDIR)" >&2
    exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
OUT="$1"
mkdir -p "$OUT" || { echo "gpu_check.sh: error: cannot create OUTDIR '$OUT'" >&2; exit 2; }
OUT="$(cd "$OUT" && pwd)"

if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"
else PY="python"; fi

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>"$OUT/cuda_probe.log"; then
    echo "gpu_check.sh: error: CUDA is not available to $PY (torch.cuda.is_available() is False or torch" \
         "failed to import, see $OUT/cuda_probe.log); this check needs an NVIDIA GPU" >&2
    exit 2
fi
if [ "${TRITON_INTERPRET:-0}" = "1" ]; then
    echo "gpu_check.sh: error: TRITON_INTERPRET=1 is set; unset it to run the kernels on the GPU" >&2
    exit 2
fi

export TRITON_CACHE_DIR="${TRITON_CACHE_DIR:-$OUT/triton_cache}"
export TRITON_CACHE_AUTOTUNING="${TRITON_CACHE_AUTOTUNING:-1}"
export PYTHONUNBUFFERED=1
SUMMARY="$OUT/summary.md"
DEVICE="$("$PY" -c 'import torch; print(torch.cuda.get_device_name())')"
VERSIONS="$("$PY" -c 'import torch, triton; print(f"torch {torch.__version__}, Triton {triton.__version__}")')"
{
    echo "# danlu GPU check"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- device: $DEVICE"
    echo "- $VERSIONS"
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "- Triton cache: $TRITON_CACHE_DIR"
    echo
    echo "| step | status | seconds | log |"
    echo "|---|---|---|---|"
} >"$SUMMARY"

FAILED=0
step() {  # step NAME TIMEOUT_S LOG -- command...
    local name="$1" limit="$2" log="$3"; shift 4
    local t0 t1 rc status
    echo "== $name (limit ${limit}s) ==" >&2
    t0=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
    rc=$?
    t1=$(date +%s)
    case $rc in
        0) status="passed" ;;
        124|137) status="TIMED OUT after ${limit}s"; FAILED=1 ;;
        *) status="FAILED (exit $rc)"; FAILED=1 ;;
    esac
    echo "| $name | $status | $((t1 - t0)) | $(basename "$log") |" >>"$SUMMARY"
    echo "   $status in $((t1 - t0)) s; log: $log" >&2
    tail -n 3 "$log" >&2
}

step "pytest -m gpu" "${GPU_CHECK_PYTEST_S:-150}" "$OUT/pytest_gpu.log" -- \
    env DANLU_TRITON_TUNE=first "$PY" -m pytest tests -m gpu -q -p no:cacheprovider ${GPU_CHECK_PYTEST_ARGS:-}
TABLES=""
for table in flash linear; do
    for d in 64 128; do  # one process per table and head dim: a timeout loses one quarter, not the lot
        limit_var="GPU_CHECK_$(echo "$table" | tr a-z A-Z)_S"
        step "benchmark $table D=$d" "${!limit_var:-75}" "$OUT/${table}_d$d.log" -- \
            env DANLU_TRITON_TUNE=full "$PY" benchmarks/attention_gpu.py --only "$table" --d "$d" \
            --out "$OUT/${table}_d$d.md"
        TABLES="$TABLES ${table}_d$d"
    done
done

for table in $TABLES; do
    if [ -f "$OUT/$table.md" ]; then { echo; cat "$OUT/$table.md"; } >>"$SUMMARY"; fi
done
echo "wrote $SUMMARY" >&2
exit "$FAILED"
