#!/bin/bash
# End-of-session benchmark runs (2026-12-01, third session): before (abbfb0a, the session's start) and after (main 241f257).
set -x
OUT=/work/runs/s3
NEW=/work/bin/seer-bench-after
OLD=/work/bin/seer-bench-abbfb0a
(uptime; $OLD --engines seer,fjall,rocksdb --num 1000000 --workloads all,fillsync-8 --db-dir /work/benchdb --json $OUT/before-1m.json; uptime) > $OUT/before-1m.txt 2>&1
(uptime; $NEW --engines seer,fjall,rocksdb --num 1000000 --workloads all,fillsync-8 --db-dir /work/benchdb --json $OUT/after-1m.json; uptime) > $OUT/after-1m.txt 2>&1
(uptime; $OLD --engines seer --num 5000000 --workloads scale --db-dir /work/benchdb --json $OUT/scale-5m-before.json; uptime) > $OUT/scale-5m-before.txt 2>&1
(uptime; $NEW --engines seer,fjall,rocksdb --num 5000000 --workloads scale --db-dir /work/benchdb --json $OUT/scale-5m-after.json; uptime) > $OUT/scale-5m-after.txt 2>&1
echo done > $OUT/done
