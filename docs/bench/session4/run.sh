#!/bin/bash
# Fourth session's end-of-session runs: e151a03 (session start) and main (end), same machine, back to back.
set -x
OUT=/work/runs/s4/bench
NEW=/work/bin/seer-bench-end4   # main 868d706, built in /work/target-e-bench with --features fjall,rocksdb
OLD=/work/bin/seer-bench-e151a03   # the session start, built the same way
(uptime; $NEW --engines seer,fjall,rocksdb --num 1000000 --workloads all,fillsync-8 --db-dir /work/benchdb --json $OUT/after-1m.json; uptime) > $OUT/after-1m.txt 2>&1
(uptime; $OLD --engines seer --num 1000000 --workloads fillrandom,overwrite,readrandom,readmissing,seekrandom,deleterandom,readwhilewriting,ycsb-b-uniform,ycsb-c-uniform --db-dir /work/benchdb --json $OUT/before-seer.json; uptime) > $OUT/before-seer.txt 2>&1
(uptime; $NEW --engines seer --num 1000000 --workloads fillrandom,overwrite,readrandom,readmissing,seekrandom,deleterandom,readwhilewriting,ycsb-b-uniform,ycsb-c-uniform --db-dir /work/benchdb --json $OUT/after-seer.json; uptime) > $OUT/after-seer.txt 2>&1
echo done > $OUT/done
# Then two alternating pairs of seer-only repeats (rep-<binary>-<i>.txt):
for i in 1 2; do for b in e151a03 end4; do (uptime; /work/bin/seer-bench-$b --engines seer --num 1000000 --repeat 2 --workloads fillrandom,overwrite,readrandom,deleterandom,readwhilewriting,ycsb-b-uniform --db-dir /work/benchdb --json rep-$b-$i.json; uptime) > rep-$b-$i.txt 2>&1; done; done
# callgrind (cg.sh TAG [binary], an.py TAG...): put_profile at 20,000 and 120,000 puts, inclusive instructions per function.
