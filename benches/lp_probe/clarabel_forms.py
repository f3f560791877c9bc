import json, numpy as np, scipy.sparse as sp, clarabel, highspy
d=json.load(open('/tmp/prog.json')); n=len(d['cost'])
I=[];J=[];V=[];b=[];r=0
eqs=[x for x in d['rows'] if x[1]=='Eq']
for e,_,rhs in eqs:
    for v,a in e: I.append(r);J.append(v);V.append(a)
    b.append(rhs); r+=1
neq=r
for j,(lo,hi) in enumerate(d['bounds']):
    if lo>-1e29: I.append(r);J.append(j);V.append(-1);b.append(-lo);r+=1
    if hi<1e29: I.append(r);J.append(j);V.append(1);b.append(hi);r+=1
A=sp.csc_matrix((V,(I,J)),shape=(r,n)); q=-np.array(d['cost']) if d['max'] else np.array(d['cost'])
for eq in [True, False]:
  s=clarabel.DefaultSettings(); s.verbose=False; s.equilibrate_enable=eq
  sol=clarabel.DefaultSolver(sp.csc_matrix((n,n)),q,A,np.array(b),[clarabel.ZeroConeT(neq),clarabel.NonnegativeConeT(r-neq)],s).solve()
  print(eq, sol.status, sol.obj_val, sol.iterations)
print('rank', np.linalg.matrix_rank(A[:neq].toarray()), neq, n)
print('bounds sample', d['bounds'][:10], 'fixed vars', sum(1 for lo,hi in d['bounds'] if abs(lo-hi)<1e-9))
import clarabel as C; print(C.__version__ if hasattr(C,'__version__') else '')
for delta in [0, 1e-7, 1e-6]:
    I2=[];J2=[];V2=[];b2=[];r=0
    for e,_,rhs in eqs:
        for v,a in e: I2+= [r, r+1]; J2+=[v,v]; V2+=[a,-a]
        b2 += [rhs+delta, -rhs+delta]; r+=2
    for j,(lo,hi) in enumerate(d['bounds']):
        if lo>-1e29: I2.append(r);J2.append(j);V2.append(-1);b2.append(-lo);r+=1
        if hi<1e29: I2.append(r);J2.append(j);V2.append(1);b2.append(hi);r+=1
    A2=sp.csc_matrix((V2,(I2,J2)),shape=(r,n))
    s=clarabel.DefaultSettings(); s.verbose=False
    sol=clarabel.DefaultSolver(sp.csc_matrix((n,n)),q,A2,np.array(b2),[clarabel.NonnegativeConeT(r)],s).solve()
    print(delta, sol.status, sol.obj_val, sol.iterations)
