import re,sys
def load(f):
    d={}
    for l in open(f):
        if '=>' in l: continue
        m=re.match(r'\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.*\S)',l)
        if m and m.group(2) not in d: d[m.group(2)]=int(m.group(1).replace(',',''))
    return d
pats=['PROGRAM TOTALS','engine::Engine::get ','>::put ','>::load_sources ','>::probe_sources ','read::probe_memtables ','memtable::Memtable::get ','SkipList::seek ','>::probe_tree ','memtable::Memtable::insert ']
res={}
for t in sys.argv[1:]:
    a=load(f'inc.{t}.20000'); b=load(f'inc.{t}.120000')
    for pat in pats:
        ks=[k for k in b if pat in k+' ']
        res[(t,pat)]=(b[max(ks,key=lambda k:b[k])]-a.get(max(ks,key=lambda k:b[k]),0))/1e6 if ks else float('nan')
print(f"{'':32}"+''.join(f"{t:>10}" for t in sys.argv[1:]))
for pat in pats: print(f"{pat:32}"+''.join(f"{res[(t,pat)]:9.2f}M" for t in sys.argv[1:]))
