#!/usr/bin/env bash
# A command-line pipeline over Parquet: classify -> summarize -> query, each step adding a column.
#
#   examples/cli_pipeline.sh                                   # the bundled articles, results in ./pipeline-out
#   examples/cli_pipeline.sh news.parquet out/                 # your file (needs a `body` text column)
#
# Each command keeps every input column and writes its output atomically, so a failed step leaves the
# previous step's file intact and the pipeline can be rerun from there. Set SQLML_MODEL / SQLML_DEVICE to
# choose the model and device; SQLML="python -m sqlml.cli" runs sqlml from a checkout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
input="${1:-$here/data/articles.parquet}"
out="${2:-pipeline-out}"
sqlml="${SQLML:-sqlml}"
mkdir -p "$out"

# 1. zero-shot topic label per article (adds `label`)
$sqlml classify "$input" --column body --labels business,sport,politics,tech,entertainment,science \
    -o "$out/labelled.parquet" --no-progress
# 2. a two-sentence summary of each article (adds `summary`)
$sqlml summarize "$out/labelled.parquet" --column body -n 2 -o "$out/briefs.parquet" --no-progress
# 3. a digest: articles per predicted topic, with one brief each, as CSV
$sqlml query "SELECT label, count(*) AS articles, min_by(summary, id) AS first_brief
              FROM '$out/briefs.parquet' GROUP BY label ORDER BY articles DESC, label" \
    --format csv -o "$out/digest.csv" --no-progress
cat "$out/digest.csv"
