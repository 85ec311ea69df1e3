import csv, glob, json, math, sys, statistics as st
def row(d): return list(csv.DictReader(open(d+'/metrics.csv')))[0]
def truth(net, tdir, bigglob):
    t = row(tdir); T = {}
    for k in ['trace_h','trace_h_sigma','ratio','a_hat','isotropic_trace_h_sigma','prop1_bound']:
        T[k] = float(t[k])
    for k in ['expected_sharpness','expected_sharpness_abs']:
        vals=[(float(row(d)[k]), float(row(d)[k+'_stderr'])) for d in sorted(glob.glob(bigglob))]
        m = sum(v for v,_ in vals)/len(vals); se = math.sqrt(sum(s*s for _,s in vals))/len(vals)
        chi = sum(((v-m)/s)**2 for v,s in vals)
        print(f'# {net} {k} truth {m:.6e} ± {se:.2e}  (n big={len(vals)}, chi2={chi:.2f} on {len(vals)-1} df; full-spectrum 20k run: {float(t[k]):.6e}±{float(t[k+"_stderr"]):.1e})')
        T[k]=m; T[k+'_truth_se']=se
    return T
nets = {'t':truth('tanh','truth_tanh','big_tanh_*'), 'r':truth('relu','truth_relu','big_relu_*')}
keys = ['trace_h','trace_h_sigma','expected_sharpness','expected_sharpness_abs','ratio','a_hat','isotropic_trace_h_sigma','prop1_bound']
print(f"{'cfg':5}{'estimator':26}{'n':>4}{'mean z':>8}{'sd z':>7}{'|z|<1':>7}{'<2':>6}{'<3':>6}{'min z':>7}{'max z':>7}  mean SE / sd(est)")
for cfg in ['tA','tB','tC','tD','tE','rA','rB']:
    dirs = sorted(glob.glob(f'runs/{cfg}_*/metrics.csv'))
    if not dirs: continue
    T = nets[cfg[0]]
    rows = [list(csv.DictReader(open(f)))[0] for f in dirs]
    for k in keys:
        se_k = k+'_stderr'
        try: zs=[(float(r[k])-T[k])/float(r[se_k]) for r in rows if float(r[se_k])>0]
        except (KeyError, ValueError): continue
        if len(zs)<5: continue
        ests=[float(r[k]) for r in rows]; ses=[float(r[se_k]) for r in rows]
        n=len(zs); f=lambda c: sum(abs(z)<c for z in zs)/n
        print(f"{cfg:5}{k:26}{n:4d}{st.mean(zs):8.3f}{st.stdev(zs):7.3f}{f(1):7.3f}{f(2):6.3f}{f(3):6.3f}{min(zs):7.2f}{max(zs):7.2f}  {st.mean(ses):.3g} / {st.stdev(ests):.3g}  rms SE {math.sqrt(st.mean([s*s for s in ses])):.3g}")
