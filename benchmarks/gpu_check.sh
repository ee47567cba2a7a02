#!/usr/bin/env bash
# The one prepared GPU check (BENCHMARKS.md): run on an H100/H200 host without network, from the repo root.
#
#   here:  python benchmarks/pack_gpu_assets.py --wheels      # -> gpu_assets/ (~50 MiB, git-ignored)
#   there: bash benchmarks/gpu_check.sh                         # with gpu_assets/ carried along
#
# 1. throughput table (benchmarks/throughput.py) for the gpt2-xl and Qwen2.5-1.5B configs on real
#    pocket-task lengths, loops (a), (b), ours and its variants;
# 2. the pocket suite on the GPU (`w2s-bench evaluate --suite pocket --method naive --seeds 0,1,2`, L1->L6) with the
#    MiniLM weights in bf16 from gpu_assets/, compared per task with the CPU leaderboard entry;
# 3. if time is left: the throughput table on full-length (512-token) sequences; batch 32; peak
#    memory of the Qwen2.5-7B config at batch 32 x 512 tokens with and without gradient
#    checkpointing; torch.compile.
# Everything goes to $OUT (default ./gpu_check_out): BENCHMARKS_gpu.md (markdown for BENCHMARKS.md,
# appended step by step), throughput.jsonl (a line per throughput run), the pocket result, log.txt.
# A step that fails is reported and skipped. With the device tool: carry ["gpu_assets"], timeout_s 560.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_check_out}
ASSETS=${W2S_GPU_ASSETS:-$PWD/gpu_assets}
BUDGET_S=${GPU_CHECK_BUDGET_S:-470}  # stop starting optional steps after this many seconds
# knobs for a CPU dry run of this script (e.g. CONFIGS=tiny MEMORY_CONFIG=tiny POCKET_EXTRA="--tasks sst2
# --limit 40" W2S_BENCH_DEVICE=cpu THROUGHPUT_DEVICE=cpu SKIP_INSTALL=1); the defaults: the real check
CONFIGS=${CONFIGS:-gpt2-xl qwen2.5-1.5b}
POCKET_EXTRA=${POCKET_EXTRA:-}
THROUGHPUT_DEVICE=${THROUGHPUT_DEVICE:-cuda}
mkdir -p "$OUT"
MD="$OUT/BENCHMARKS_gpu.md"
LOG="$OUT/log.txt"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
export TQDM_MININTERVAL=30  # progress bars: a line every 30 s in log.txt
export W2S_BENCH_HOME="$ASSETS" W2S_BENCH_DEVICE=${W2S_BENCH_DEVICE:-cuda}
PY=${PYTHON:-python3}
exec > >(tee -a "$LOG") 2>&1

step() { echo "== [$SECONDS s] $*"; }

# ---- setup: carried wheels (packages the image lacks), then our package without dependencies ----
step setup
if [[ -n "${SKIP_INSTALL:-}" ]]; then
  echo "SKIP_INSTALL: using the w2s_bench this python already imports"
elif compgen -G "$ASSETS/wheels/*.whl" >/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/w2s-site \
      "$ASSETS"/wheels/*.whl && export PYTHONPATH=/tmp/w2s-site${PYTHONPATH:+:$PYTHONPATH}
fi
if [[ -z "${SKIP_INSTALL:-}" ]] && ! $PY -m pip install -q --no-deps --no-build-isolation --no-index -e . ; then
  echo "pip install -e . failed: importing w2s_bench through a folder of links instead"
  SHIM=/tmp/w2s-shim; rm -rf $SHIM; mkdir -p $SHIM/w2s_bench
  for f in "$PWD"/w2s_bench/*; do ln -s "$f" $SHIM/w2s_bench/; done
  for p in methods tasks leaderboard; do ln -s "$PWD/$p" $SHIM/w2s_bench/$p; done
  export PYTHONPATH=$SHIM${PYTHONPATH:+:$PYTHONPATH}
fi
W2S="$PY -m w2s_bench.cli"

{
  echo "## GPU check ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "Run by \`bash benchmarks/gpu_check.sh\` (random-weight models from \`benchmarks/configs/\`;"
  echo "pocket suite with the MiniLM weights stored in bf16 by \`benchmarks/pack_gpu_assets.py\`)."
  echo
  echo '```'
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
  $PY - <<'EOF'
import importlib.metadata as md, platform, torch
print("python", platform.python_version(), "| torch", torch.__version__, "cuda", torch.version.cuda,
      "|", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "NO CUDA DEVICE")
for n in ("transformers", "peft", "datasets", "pydantic", "pyarrow", "w2s-bench"):
    try:
        print(f"{n} {md.version(n)}")
    except md.PackageNotFoundError:
        print(f"{n} not installed")
EOF
  echo '```'
  echo
} >> "$MD"

throughput() {  # $1: label, $2: time limit per config (s), rest: throughput.py arguments
  local label=$1 limit=$2 c; shift 2
  { echo "### Throughput: $label"; echo
    echo "\`python benchmarks/throughput.py --config CONFIG $*\`, one run per config"; echo; } >> "$MD"
  for c in $CONFIGS; do
    step "throughput: $label: $c"
    if timeout "$limit" $PY benchmarks/throughput.py --device "$THROUGHPUT_DEVICE" --config "$c" "$@" \
        --out "$OUT/throughput.jsonl" > "$OUT/tp.md"; then
      { cat "$OUT/tp.md"; echo; } >> "$MD"
    else
      echo "$c: failed or out of time (exit $?), see log.txt" >> "$MD"; echo >> "$MD"
    fi
    rm -f "$OUT/tp.md"
  done
}

# ---- 1. throughput on real task lengths --------------------------------------------------------
throughput "pocket-task lengths, max 512 tokens" 110 \
  --loops a,b,ours,ours-unsorted,ours-unfused --data tasks --max-length 512 --batch-size 8 \
  --steps 8 --examples 400

# ---- the tests that need CUDA (trainer on the GPU, throughput loops on a tiny config) -----------
step "pytest -m gpu"
if timeout 120 $PY -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu_check.py tests/test_throughput.py \
    > "$OUT/pytest.txt" 2>&1; then res="exit 0"; else res="FAILED (exit $?)"; fi
{ echo "### Tests marked gpu: $res"; echo; echo '```'; tail -n 5 "$OUT/pytest.txt"; echo '```'; echo; } >> "$MD"
cat "$OUT/pytest.txt"; rm -f "$OUT/pytest.txt"

# ---- 2. the pocket suite on the GPU vs the CPU leaderboard entry --------------------------------
step "pocket suite (naive, seeds 0,1,2) on the GPU"
T0=$SECONDS
if timeout 300 bash -c "$W2S evaluate --method naive --suite pocket --seeds 0,1,2 $POCKET_EXTRA \
      --out /tmp/w2s-pocket-gpu --cache-dir /tmp/w2s-cache"; then
  cp /tmp/w2s-pocket-gpu/result.json "$OUT/pocket_naive_gpu_result.json"
  cp /tmp/w2s-pocket-gpu/predictions.parquet "$OUT/pocket_naive_gpu_predictions.parquet"
  { echo "### Pocket suite on the GPU vs the CPU leaderboard entry (naive, L1->L6, seeds 0,1,2)"; echo
    echo "GPU run: $((SECONDS - T0)) s wall time (\`w2s-bench evaluate --suite pocket --method naive --seeds 0,1,2\`)."; echo
    $PY benchmarks/compare_results.py /tmp/w2s-pocket-gpu leaderboard/entries/pocket/pocket/naive \
      --names GPU,CPU; echo; } >> "$MD" 2>&1
else
  echo "pocket suite on the GPU failed or ran out of time ($((SECONDS - T0)) s), see log.txt" >> "$MD"
fi

# ---- 3. optional: full-length sequences, torch.compile ------------------------------------------
if (( SECONDS < BUDGET_S - 140 )); then
  throughput "every sequence 512 tokens" 70 --loops a,b,ours \
    --data full --max-length 512 --batch-size 8 --steps 6 --examples 64
fi
if (( SECONDS < BUDGET_S - 200 )); then
  throughput "batch 32 (the hub ladders' batch size), pocket-task lengths" 60 --loops b,ours \
    --data tasks --max-length 512 --batch-size 32 --steps 6 --examples 800
fi
if (( SECONDS < BUDGET_S - 110 )); then
  # the biggest hub rung at the ladders' batch on full-length inputs (a pairwise batch is twice
  # this many sequences): does it fit without W2S_BENCH_GRADIENT_CHECKPOINTING, and what does
  # checkpointing cost? (peak memory column)
  CONFIGS=${MEMORY_CONFIG:-qwen2.5-7b} throughput "memory: batch 32, every sequence 512 tokens, with and without gradient checkpointing" 100 \
    --loops ours,ours-ckpt --data full --max-length 512 --batch-size 32 --steps 2 --warmup 1 --examples 64
fi
if (( SECONDS < BUDGET_S - 120 )); then
  CONFIGS=${CONFIGS##* } throughput "torch.compile, pocket-task lengths" 120 --loops b,ours,ours-compile \
    --data tasks --max-length 512 --batch-size 8 --steps 8 --examples 400
fi
step "done"
echo "Total wall time of the check: $SECONDS s." >> "$MD"
