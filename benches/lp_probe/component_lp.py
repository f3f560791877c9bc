import json, time, numpy as np, highspy, scipy.sparse as sp
d=json.load(open('/tmp/comp.json'))
n=d['n']; floor=d['floor']; rows=d['rows']; truth=np.array(d['truth'])
print('n',n,'rows',len(rows),'floor',floor, 'maxrhs', max(abs(r['rhs']) for r in rows))
from collections import Counter
print('row sizes', Counter(len(r['terms']) for r in rows).most_common(8))
I=[];J=[];V=[]
for i,r in enumerate(rows):
    for u,c in r['terms']: I.append(i);J.append(u);V.append(c)
A=sp.csr_matrix((V,(I,J)),shape=(len(rows),n))
b=np.array([r['rhs'] for r in rows])
print('resid', abs(A@truth-b).max())
def model(c):
    h=highspy.Highs(); h.setOptionValue('output_flag',False)
    inf=highspy.kHighsInf
    lp=highspy.HighsLp(); lp.num_col_=n; lp.num_row_=len(rows)
    lp.col_cost_=np.array(c,dtype=float); lp.col_lower_=np.full(n,floor); lp.col_upper_=np.full(n,inf)
    lp.row_lower_=b; lp.row_upper_=b
    Ac=A.tocsc()
    lp.a_matrix_.format_=highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_=Ac.indptr; lp.a_matrix_.index_=Ac.indices; lp.a_matrix_.value_=Ac.data
    lp.sense_=highspy.ObjSense.kMaximize
    h.passModel(lp); return h
w=d['wanted']
t=time.time(); k=0; res=[]
for (u,lo,hi) in w[:40]:
    c=np.zeros(n); c[u]=1
    h=model(c); h.run(); st=h.getModelStatus()
    mx = h.getInfo().objective_function_value if st==highspy.HighsModelStatus.kOptimal else float('inf')
    res.append((u,truth[u],mx,hi))
print('40 max LPs', time.time()-t)
print(res[:10])
import clarabel
def push_high_clarabel(pending):
    m=len(pending); N=n+m
    # vars: x (n), y (m). min -sum y
    q=np.concatenate([np.zeros(n), -np.ones(m)])
    P=sp.csc_matrix((N,N))
    # equalities A x = b
    Aeq=sp.hstack([A, sp.csr_matrix((len(rows),m))])
    # inequalities: y - x <= 0 ; -x <= -floor ; y <= hi ; -y <= -min(floor,hi)
    Ix=sp.identity(n,format='csr'); Iy=sp.identity(m,format='csr')
    Sel=sp.csr_matrix((np.ones(m),(np.arange(m),[w[k][0] for k in pending])),shape=(m,n))
    G=sp.vstack([sp.hstack([-Sel,Iy]), sp.hstack([-Ix,sp.csr_matrix((n,m))]), sp.hstack([sp.csr_matrix((m,n)),Iy]), sp.hstack([sp.csr_matrix((m,n)),-Iy])])
    h=np.concatenate([np.zeros(m), -floor*np.ones(n), np.array([w[k][2] for k in pending]), -np.array([min(floor,w[k][2]) for k in pending])])
    Afull=sp.vstack([Aeq,G]).tocsc(); bfull=np.concatenate([b,h])
    cones=[clarabel.ZeroConeT(len(rows)), clarabel.NonnegativeConeT(G.shape[0])]
    s=clarabel.DefaultSettings(); s.verbose=False
    t=time.time(); sol=clarabel.DefaultSolver(P,q,Afull,bfull,cones,s).solve(); 
    print('clarabel push', time.time()-t, sol.status, sol.obj_val, sol.iterations)
    return np.array(sol.x)[:n]
x=push_high_clarabel(list(range(len(w))))
print('min x', x.min(), 'resid', abs(A@x-b).max())
met=sum(1 for (u,lo,hi) in w if x[u]>=hi-1e-6); print('met high', met, 'of', len(w))
def push_high_highs(pending):
    m=len(pending)
    h=highspy.Highs(); h.setOptionValue('output_flag',False)
    inf=highspy.kHighsInf
    xs=[h.addVariable(lb=floor, ub=inf) for _ in range(n)]
    ys=[h.addVariable(lb=min(floor,w[k][2]), ub=w[k][2], obj=1.0) for k in pending]
    for i,r in enumerate(rows):
        h.addRow(r['rhs'], r['rhs'], len(r['terms']), np.array([u for u,_ in r['terms']],dtype=np.int32), np.array([c for _,c in r['terms']]))
    for j,k in enumerate(pending):
        h.addRow(-inf, 0, 2, np.array([n+j, w[k][0]],dtype=np.int32), np.array([1.0,-1.0]))
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    t=time.time(); h.run(); print('highs push', time.time()-t, h.getModelStatus(), h.getInfo().objective_function_value)
    return np.array(h.getSolution().col_value[:n])
x=push_high_highs(list(range(len(w))))
met=sum(1 for (u,lo,hi) in w if x[u]>=hi-1e-6); print('met high', met, 'of', len(w))
