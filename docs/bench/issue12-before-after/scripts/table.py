#!/usr/bin/env python3
"""Median and min-max of ops/s per workload, before vs after, from the raw JSON files."""
import json, glob, statistics, sys, os
d = sys.argv[1]
order = ["fillseq","fillrandom","overwrite","readrandom","readmissing","readseq","seekrandom","readwhilewriting","fillsync-1","fillsync-8"]
vals = {}
wvals = {}
for f in sorted(glob.glob(os.path.join(d, "*.json"))):
    side = "before" if "-before-" in f else "after"
    for r in json.load(open(f))["results"]:
        if r.get("skipped"): continue
        vals.setdefault((r["workload"], side), []).append(r["ops_per_sec"])
        if r.get("writer_ops_per_sec"):
            wvals.setdefault((r["workload"], side), []).append(r["writer_ops_per_sec"])
def fmt(v): return f"{v:,.0f}"
print("| workload | before median ops/s | before min-max | after median ops/s | after min-max | after/before (medians) | reading |")
print("|---|---:|---:|---:|---:|---:|---|")
for w in order:
    b = vals.get((w,"before"), []); a = vals.get((w,"after"), [])
    if not b or not a: continue
    mb, ma = statistics.median(b), statistics.median(a)
    if min(a) > max(b): rd = "after faster in every run"
    elif max(a) < min(b): rd = "after slower in every run"
    else: rd = "ranges overlap"
    label = w + (" (reader)" if (w,"before") in wvals else "")
    print(f"| {label} | {fmt(mb)} | {fmt(min(b))}-{fmt(max(b))} | {fmt(ma)} | {fmt(min(a))}-{fmt(max(a))} | {ma/mb:.2f} | {rd} (n={len(b)}/{len(a)}) |")
for w in order:
    b = wvals.get((w,"before"), []); a = wvals.get((w,"after"), [])
    if b and a:
        mb, ma = statistics.median(b), statistics.median(a)
        print(f"| {w} (writer) | {fmt(mb)} | {fmt(min(b))}-{fmt(max(b))} | {fmt(ma)} | {fmt(min(a))}-{fmt(max(a))} | {ma/mb:.2f} | (n={len(b)}/{len(a)}) |")
