"""Weight initialisation through ``model.apply`` and its effect on signal propagation in a deep
tanh network (Xavier keeps the activation scale; a too-small init makes it vanish).

Idioms: ``def init_weights(m): if isinstance(m, nn.Linear): ...``, ``nn.init.xavier_normal_``,
``nn.init.kaiming_uniform_(..., nonlinearity="relu")``, ``nn.init.zeros_``,
``nn.init.constant_``, ``nn.init.calculate_gain("tanh")``, ``m.bias.data.fill_(0.01)``,
``model.apply(fn)``, forward hooks collecting activations with
``register_forward_hook(lambda m, inp, out: ...)`` and ``handle.remove()``.
"""
import torch
import torch.nn as nn


def build(depth=12, width=256):
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.Tanh()]
    return nn.Sequential(*layers)


def init_xavier(m):
    if isinstance(m, nn.Linear):
        nn.init.xavier_normal_(m.weight, gain=nn.init.calculate_gain("tanh"))
        nn.init.zeros_(m.bias)


def init_small(m):
    if type(m) == nn.Linear:
        nn.init.normal_(m.weight, std=0.01)
        m.bias.data.fill_(0.01)


def last_activation_std(model, x):
    stds = []
    handles = [m.register_forward_hook(lambda mod, inp, out: stds.append(out.std().item()))
               for m in model if isinstance(m, nn.Tanh)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return stds[-1]


torch.manual_seed(0)
x = torch.randn(512, 256)
good, bad = build(), build()
good.apply(init_xavier)
bad.apply(init_small)
relu_layer = nn.Linear(256, 256)
nn.init.kaiming_uniform_(relu_layer.weight, nonlinearity="relu")
nn.init.constant_(relu_layer.bias, 0.0)
bound = (6 / 256) ** 0.5
assert relu_layer.weight.abs().max().item() <= bound
std_good, std_bad = last_activation_std(good, x), last_activation_std(bad, x)
print(f"last tanh std: xavier {std_good:.3f}, N(0, 0.01) {std_bad:.2e}")
print(f"METRIC xavier_last_layer_std {std_good:.4f}")
