#!/bin/bash
# Two more pairs, after first, so the load trend does not favour one side.
O=/work/g-bench/out-reversed
for n in 4 5; do
  for side in after before; do
    ./run.sh $side $n $O 1000000 fillseq,fillrandom,overwrite,readrandom,readmissing,readseq,seekrandom,readwhilewriting headline
    ./run.sh $side $n $O 5000000 fillsync-1,fillsync-8 fillsync
  done
done
echo ALLDONE
