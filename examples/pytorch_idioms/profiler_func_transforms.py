"""Profiling a model with ``torch.profiler`` and checking derivatives three ways: the
``torch.func`` transforms, ``torch.autograd.functional`` and a finite-difference estimate.

Idioms: ``from torch.profiler import profile, record_function, ProfilerActivity``; ``with
profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:`` around ``with
record_function("model_inference"):``; ``prof.key_averages().table(sort_by="cpu_time_total",
row_limit=10)``; ``torch.func.jacrev`` / ``jacfwd`` / ``hessian`` / ``vmap(jacrev(f))`` /
``jvp`` / ``vjp``; ``torch.autograd.functional.jacobian`` / ``hessian`` with
``create_graph=False``; ``torch.allclose(..., atol=)``; ``torch.testing.assert_close``.
"""
import torch
import torch.nn as nn
from torch.func import hessian, jacfwd, jacrev, jvp, vjp, vmap
from torch.profiler import ProfilerActivity, profile, record_function

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))
inputs = torch.randn(8, 4)

with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof, \
        record_function("model_inference"):
    model(inputs)
table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=10)
assert "model_inference" in table
names = [evt.key for evt in prof.key_averages()]
assert "model_inference" in names


def f(x):
    return torch.sin(x) * x.pow(2).sum()


def scalar(x):
    return (x.exp() * torch.cos(x)).sum()


x = torch.randn(5, dtype=torch.float64)
checks = 0
J_rev = jacrev(f)(x)
J_fwd = jacfwd(f)(x)
J_ag = torch.autograd.functional.jacobian(f, x)
eps = 1e-6
J_fd = torch.stack([(f(x + eps * e) - f(x - eps * e)) / (2 * eps)
                    for e in torch.eye(5, dtype=torch.float64)], dim=1)
checks += torch.allclose(J_rev, J_fwd)
checks += torch.allclose(J_rev, J_ag)
checks += torch.allclose(J_rev, J_fd, atol=1e-6)
H = hessian(scalar)(x)
H_ag = torch.autograd.functional.hessian(scalar, x)
checks += torch.allclose(H, H_ag)
checks += torch.allclose(H, torch.diag(torch.diagonal(H)))      # separable: diagonal Hessian
batch = torch.randn(6, 5, dtype=torch.float64)
J_batch = vmap(jacrev(f))(batch)
checks += J_batch.shape == (6, 5, 5)
checks += torch.allclose(J_batch[2], jacrev(f)(batch[2]))
v = torch.randn(5, dtype=torch.float64)
out, jv = jvp(f, (x,), (v,))
checks += torch.allclose(jv, J_rev @ v)
out, vjp_fn = vjp(f, x)
(vj,) = vjp_fn(v)
checks += torch.allclose(vj, v @ J_rev)
torch.testing.assert_close(out, f(x))
checks += 1
print(table.splitlines()[0][:60])
print(f"METRIC checks_passed {checks}")
