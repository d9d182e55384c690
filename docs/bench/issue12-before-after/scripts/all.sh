#!/bin/bash
O=/work/g-bench/out
for n in 1 2 3; do
  for side in before after; do
    ./run.sh $side $n $O 1000000 fillseq,fillrandom,overwrite,readrandom,readmissing,readseq,seekrandom,readwhilewriting headline
    ./run.sh $side $n $O 5000000 fillsync-1,fillsync-8 fillsync
  done
done
echo ALLDONE
