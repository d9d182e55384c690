#!/bin/bash
# usage: cg.sh <side> : callgrind instruction counts, 100K keys, one workload per run, in-process
side=$1
bin=/work/target-g-$side/release/seer-bench
for wl in fillrandom readrandom readmissing readseq seekrandom; do
  valgrind --tool=callgrind --callgrind-out-file=/work/g-bench/cg/$wl-$side.out $bin --engines seer --num 100000 --workloads $wl --in-process --db-dir /work/g-bench/db-cg-$side > /work/g-bench/cg/$wl-$side.log 2>&1
done
echo done-$side
