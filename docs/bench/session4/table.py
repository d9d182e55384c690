import json
def rows(f):
    d=json.load(open(f)); out={}
    for r in d['results']:
        if r.get('skipped') or not r.get('ops_per_sec'): continue
        out[(r['workload'],r['engine'])]=r
    return out
def k(v): return f"{v/1e6:.2f}M" if v>=1e6 else f"{v/1e3:.0f}K" if v>=1e4 else f"{v/1e3:.1f}K"
a=rows('after-1m.json'); b=rows('before-seer.json'); c=rows('after-seer.json')
ws=list(dict.fromkeys(w for (w,e) in a))
print("| workload | seer | fjall 3.1 | RocksDB 11.8 | seer / best peer | peak RSS seer / RocksDB MiB | peak anon seer / RocksDB MiB |")
print("|---|--:|--:|--:|--:|--:|--:|")
for w in ws:
    s=a.get((w,'seer')); f=a.get((w,'fjall')); r=a.get((w,'rocksdb'))
    best=max(x['ops_per_sec'] for x in (f,r) if x)
    mib=lambda x,key: f"{x[key]/2**20:.0f}" if x and x.get(key) else "-"
    print(f"| {w} | {k(s['ops_per_sec'])} | {k(f['ops_per_sec']) if f else 'n/a'} | {k(r['ops_per_sec'])} | {s['ops_per_sec']/best:.2f} | {mib(s,'peak_rss_bytes')} / {mib(r,'peak_rss_bytes')} | {mib(s,'peak_rss_anon_bytes')} / {mib(r,'peak_rss_anon_bytes')} |")
print()
print("| workload | e151a03 | main | main / e151a03 |")
print("|---|--:|--:|--:|")
for (w,e) in b:
    x=b[(w,e)]['ops_per_sec']; y=c[(w,e)]['ops_per_sec']
    print(f"| {w} | {k(x)} | {k(y)} | {y/x:.2f} |")
