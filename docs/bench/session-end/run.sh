#!/bin/bash
# The end-of-session benchmark runs, one after another on an otherwise idle machine.
set -x
OUT=/work/runs/final
NEW=/work/bin/seer-bench-new
OLD=/work/bin/seer-bench-9559901
cd /work/main
uptime > $OUT/load-start.txt
(uptime; $OLD --engines seer,fjall,rocksdb --num 1000000 --workloads all,fillsync-8 --db-dir /work/benchdb --json $OUT/before-1m.json; uptime) > $OUT/before-1m.txt 2>&1
(uptime; $NEW --engines seer,fjall,rocksdb --num 1000000 --workloads all,fillsync-8 --db-dir /work/benchdb --json $OUT/after-1m.json; uptime) > $OUT/after-1m.txt 2>&1
(uptime; $NEW --engines seer,fjall,rocksdb --num 1000000 --workloads scale --db-dir /work/benchdb --json $OUT/scale-1m.json; uptime) > $OUT/scale-1m.txt 2>&1
(uptime; $NEW --engines seer,fjall,rocksdb --num 20000000 --workloads scale --db-dir /work/benchdb --json $OUT/scale-20m.json; uptime) > $OUT/scale-20m.txt 2>&1
echo done > $OUT/done
