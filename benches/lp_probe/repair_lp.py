import json, highspy, numpy as np
d=json.load(open('/tmp/rep.json'))
vals=d['values']; floor=d['floor']; c=d['c']; target=d['target']
near={x:(v,h,hd) for x,v,h,hd in d['cells']}
h=highspy.Highs(); h.setOptionValue('output_flag',False); inf=highspy.kHighsInf
var={}
nonmov=0
for x,(v,hid,hd) in near.items():
    if hid or (hd and v>0):
        var[x]=h.addVariable(lb=floor, ub=inf)
        if not hid:
            up=h.addVariable(lb=0,ub=inf,obj=1+v); dn=h.addVariable(lb=0,ub=inf,obj=1+v)
            h.addConstr(var[x]-up+dn==v)
    else: nonmov+=1
print('vars',len(var),'nonmovable',nonmov, 'c in var', c in var, 'value c', vals[c])
for r in d['rows']:
    expr=0; rhs=0.0; has=False
    for x,s in [(r['total'],1.0)]+[(p,-1.0) for p in r['parts']]:
        if x in var: expr = expr + s*var[x]; has=True
        else: rhs -= s*vals[x]
    if has: h.addConstr(expr==rhs)
h.addConstr(var[c]>=target)
h.run(); print(h.getModelStatus())
# which non-movable cells are in rows with c
import clarabel, scipy.sparse as sp, time
# build standard form: vars: v_x for movable, up/dn for published
cols={}; n=0
for x,(v,hid,hd) in near.items():
    if hid or (hd and v>0):
        cols[x]=n; n+=1
pub=[x for x in cols if not near[x][1]]
upc={x:n+i for i,x in enumerate(pub)}; n2=n+len(pub); dnc={x:n2+i for i,x in enumerate(pub)}; N=n2+len(pub)
q=np.zeros(N)
for x in pub: q[upc[x]]=1+near[x][0]; q[dnc[x]]=1+near[x][0]
I=[];J=[];V=[];b=[]; r=0
for x in pub:
    I+= [r,r,r]; J+=[cols[x],upc[x],dnc[x]]; V+=[1,-1,1]; b.append(near[x][0]); r+=1
for row in d['rows']:
    rhs=0.0; has=False
    for x,s in [(row['total'],1.0)]+[(p,-1.0) for p in row['parts']]:
        if x in cols: I.append(r); J.append(cols[x]); V.append(s); has=True
        else: rhs -= s*vals[x]
    if has: b.append(rhs); r+=1
neq=r
# inequalities: -v <= -floor for v; -up<=0; -dn<=0; -v_c <= -target
for k in range(n): I.append(r); J.append(k); V.append(-1); b.append(-floor); r+=1
for k in range(n,N): I.append(r); J.append(k); V.append(-1); b.append(0); r+=1
I.append(r); J.append(cols[c]); V.append(-1); b.append(-target); r+=1
A=sp.csc_matrix((V,(I,J)),shape=(r,N))
s=clarabel.DefaultSettings(); s.verbose=False
t=time.time(); sol=clarabel.DefaultSolver(sp.csc_matrix((N,N)),q,A,np.array(b),[clarabel.ZeroConeT(neq),clarabel.NonnegativeConeT(r-neq)],s).solve()
print('clarabel', time.time()-t, sol.status, sol.obj_val)
x=np.array(sol.x); moved=sum(1 for xx in pub if x[upc[xx]]+x[dnc[xx]]>1e-4); print('moved',moved)
print('highs obj', h.getInfo().objective_function_value)
