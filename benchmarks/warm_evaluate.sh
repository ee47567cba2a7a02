#!/usr/bin/env bash
# A method's warm 5-seed run, as a researcher iterating on a loss sees it: features, weak models
# and ceilings cached, the students trained again. Runs alternate, warm sealed workers (the
# default) then fresh interpreters (W2S_BENCH_ZYGOTE=0), ROUNDS times after one warm-up round;
# wall seconds from /usr/bin/time, and whether the predictions of the two are identical.
#
#   benchmarks/warm_evaluate.sh CACHE_DIR [METHOD] [ROUNDS] [SUITE]
#
# CACHE_DIR: a stage cache holding the suite's features, weak models and ceilings (a copy of
# ~/.cache/w2s-bench/cache after one `w2s-bench evaluate` of the suite); its student and
# student_pred stages are deleted before every run.
set -euo pipefail
cache=${1:?usage: benchmarks/warm_evaluate.sh CACHE_DIR [METHOD] [ROUNDS] [SUITE]}
method=${2:-aux_conf}
rounds=${3:-3}
suite=${4:-pocket.v3}
out=$(mktemp -d)
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 W2S_BENCH_ISOLATION=bubblewrap
run() {  # $1: label, $2: W2S_BENCH_ZYGOTE
    rm -rf "$cache/student" "$cache/student_pred"
    W2S_BENCH_ZYGOTE=$2 /usr/bin/time -f "%e" -o "$out/t" \
        w2s-bench evaluate --method "$method" --suite "$suite" --seeds 0,1,2,3,4 --cache-dir "$cache" \
        --out "$out/$1" >"$out/$1.log" 2>&1
    cat "$out/t"
}
echo "$method on $suite, seeds 0-4, $rounds rounds after one warm-up; $(nproc) CPUs"
run warm 1 >/dev/null
run cold 0 >/dev/null
echo "| round | warm workers s | fresh interpreters s |"
echo "|---|---|---|"
for r in $(seq 1 "$rounds"); do
    echo "| $r | $(run warm 1) | $(run cold 0) |"
done
python - "$out" <<'EOF'
import sys
import pandas as pd
a, b = (pd.read_parquet(f"{sys.argv[1]}/{k}/predictions.parquet") for k in ("warm", "cold"))
print(f"\npredictions identical (warm vs fresh): {a.equals(b)} ({len(a)} rows)")
EOF
rm -rf "$out"
