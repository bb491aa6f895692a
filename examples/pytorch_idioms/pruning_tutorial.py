"""Magnitude pruning of a small classifier with ``torch.nn.utils.prune``, then fine-tuning.

Idioms (pytorch/tutorials "Pruning Tutorial"): ``prune.random_unstructured(module,
name="weight", amount=0.3)`` leaving ``weight_orig`` in ``named_parameters()`` and
``weight_mask`` in ``named_buffers()`` with a forward pre-hook in ``module._forward_pre_hooks``;
``prune.l1_unstructured(module, name="bias", amount=3)`` (an int is a count);
``prune.ln_structured(module, name="weight", amount=0.5, n=2, dim=0)``; iterative pruning kept in
one ``PruningContainer`` (``hook._pruning_methods``); ``prune.global_unstructured(params,
pruning_method=prune.L1Unstructured, amount=0.2)``; sparsity reports
``100. * float(torch.sum(m.weight == 0)) / float(m.weight.nelement())``; a custom
``prune.BasePruningMethod`` with ``PRUNING_TYPE = "unstructured"`` and ``compute_mask``;
``prune.is_pruned``; ``prune.remove`` to make it permanent; fine-tuning with masks applied.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune


class LeNetish(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3)
        self.fc1 = nn.Linear(6 * 6 * 6, 32)
        self.fc2 = nn.Linear(32, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = x.view(-1, int(x.nelement() / x.shape[0]))
        return self.fc2(F.relu(self.fc1(x)))


class FooBarPruningMethod(prune.BasePruningMethod):
    """Prune every other entry in a tensor."""
    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        mask = default_mask.clone()
        mask.view(-1)[::2] = 0
        return mask


def foobar_unstructured(module, name):
    FooBarPruningMethod.apply(module, name)
    return module


def make_data(n, gen):
    # three classes: a bright bar that is horizontal, vertical or diagonal
    y = torch.randint(0, 3, (n,), generator=gen)
    x = 0.3 * torch.randn(n, 1, 14, 14, generator=gen)
    k = torch.randint(2, 12, (n,), generator=gen)
    rows = torch.arange(14).view(1, 14, 1)
    cols = torch.arange(14).view(1, 1, 14)
    kk = k.view(n, 1, 1)
    bar = torch.stack([(rows == kk).expand(n, 14, 14), (cols == kk).expand(n, 14, 14),
                       (rows == cols).expand(n, 14, 14)], dim=1)
    x += bar[torch.arange(n), y].unsqueeze(1).float()
    return x, y


def sparsity(t):
    return 100.0 * float(torch.sum(t == 0)) / float(t.nelement())


def train(model, x, y, steps, lr=0.05):
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    xtr, ytr = make_data(300, gen)
    xte, yte = make_data(200, gen)
    model = LeNetish()
    train(model, xtr, ytr, 60)

    checks = 0
    module = model.conv1
    prune.random_unstructured(module, name="weight", amount=0.3)
    names = [n for n, _ in module.named_parameters()]
    buffers = [n for n, _ in module.named_buffers()]
    checks += names == ["bias", "weight_orig"] and buffers == ["weight_mask"]
    checks += len(module._forward_pre_hooks) == 1
    checks += round(sparsity(module.weight)) == 30          # round(0.3 * 54) = 16 of 54
    prune.l1_unstructured(module, name="bias", amount=3)
    checks += int(torch.sum(module.bias == 0)) == 3
    # the three smallest |bias| are the ones zeroed
    smallest = module.bias_orig.abs().argsort()[:3]
    checks += bool((module.bias_mask[smallest] == 0).all())
    # iterative pruning on the same tensor: channels of the already-pruned weight
    prune.ln_structured(module, name="weight", amount=0.5, n=2, dim=0)
    zero_channels = int((module.weight.abs().sum(dim=(1, 2, 3)) == 0).sum())
    checks += zero_channels == 3
    for hook in module._forward_pre_hooks.values():
        if hook._tensor_name == "weight":
            break
    checks += isinstance(hook, prune.PruningContainer) and len(hook._pruning_methods) == 2
    prune.remove(module, "weight")
    checks += "weight_orig" not in dict(module.named_parameters())
    checks += prune.is_pruned(model)                      # the bias is still pruned

    parameters_to_prune = ((model.fc1, "weight"), (model.fc2, "weight"))
    prune.global_unstructured(parameters_to_prune, pruning_method=prune.L1Unstructured,
                              amount=0.2)
    total = model.fc1.weight.nelement() + model.fc2.weight.nelement()
    zeros = float(torch.sum(model.fc1.weight == 0) + torch.sum(model.fc2.weight == 0))
    checks += round(100.0 * zeros / total, 1) == 20.0
    foobar_unstructured(model.fc2, name="bias")
    checks += model.fc2.bias_mask.tolist() == [0.0, 1.0, 0.0]

    # fine-tune with the masks in place: pruned entries stay zero
    train(model, xtr, ytr, 30, lr=0.02)
    checks += round(sparsity(model.fc1.weight), 1) >= 0.0 and bool(
        (model.fc1.weight[model.fc1.weight_mask == 0] == 0).all())
    for m, name in parameters_to_prune:
        prune.remove(m, name)
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    print(f"checks {checks}/12, accuracy after pruning + fine-tuning {acc:.3f}")
    print(f"METRIC checks_plus_accuracy {checks + acc:.4f}")


if __name__ == "__main__":
    main()
