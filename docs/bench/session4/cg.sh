#!/bin/bash
# usage: cg.sh TAG  -> callgrind put_profile 20000/120000, per-function inclusive diffs
tag=$1; bin=${2:-/work/main/target/release/examples/put_profile}
for n in 20000 120000; do valgrind --tool=callgrind --callgrind-out-file=cg.$tag.$n $bin $n >/dev/null 2>&1; callgrind_annotate --inclusive=yes cg.$tag.$n 2>/dev/null > inc.$tag.$n; done
python3 /work/runs/s4/an.py $tag
