#!/bin/bash
# usage: run.sh <before|after> <n> <outdir> <num> <workloads> <tag>
side=$1; n=$2; out=$3; num=$4; wl=$5; tag=$6
bin=/work/target-g-$side/release/seer-bench
mkdir -p "$out"
f="$out/$tag-$side-$n"
{ echo "# $side run $n, $(date -u +%FT%TZ)"; echo "# uptime before: $(uptime)"; echo "# command: $bin --engines seer --num $num --workloads $wl --db-dir /work/g-bench/db-$side --json $f.json"; } > "$f.txt"
start=$(date +%s)
$bin --engines seer --num $num --workloads $wl --db-dir /work/g-bench/db-$side --json "$f.json" >> "$f.txt" 2>&1
rc=$?
end=$(date +%s)
{ echo "# exit $rc, wall $((end-start)) s"; echo "# uptime after: $(uptime)"; } >> "$f.txt"
