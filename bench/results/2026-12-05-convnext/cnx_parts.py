import sys, time, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(2)
c, side, n = map(int, sys.argv[1:4])
class B(nn.Module):
    def __init__(s, dw, mlp):
        super().__init__(); s.dw_, s.mlp_ = dw, mlp
        s.dw = nn.Conv2d(c, c, 7, padding=3, groups=c); s.n = nn.LayerNorm(c); s.a = nn.Linear(c, 4*c); s.b = nn.Linear(4*c, c); s.fc = nn.Linear(c, 10)
    def forward(s, x):
        y = x
        if s.dw_: y = s.dw(y)
        if s.mlp_: y = s.b(F.gelu(s.a(s.n(y.permute(0,2,3,1))))).permute(0,3,1,2)
        return s.fc(F.adaptive_avg_pool2d(x + y, 1).flatten(1))
x = torch.randn(n, c, side, side); yl = torch.arange(n) % 10
for name, dw, mlp in [("dw+mlp", 1, 1), ("dw", 1, 0), ("mlp", 0, 1)]:
    m = B(dw, mlp); ps = [p for p in m.parameters()]
    def g(): return torch.autograd.grad(F.cross_entropy(m(x), yl), ps, allow_unused=True)
    g(); g(); ts = []
    for _ in range(5):
        s = time.perf_counter(); g(); ts.append(time.perf_counter() - s)
    print(f"{name}: PyTorch grad median {sorted(ts)[2]:.4f} s")
