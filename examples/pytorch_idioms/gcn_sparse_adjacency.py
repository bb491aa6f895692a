"""A two-layer graph convolutional network (Kipf & Welling) on a planted-partition graph, with
the normalised adjacency held as a sparse COO tensor.

Idioms: ``torch.sparse_coo_tensor(indices, values, size)`` and ``.coalesce()``,
``torch.sparse.mm(adj, support)`` / ``torch.spmm``, degree from ``torch.sparse.sum(adj, dim=1)
.to_dense()``, ``deg.pow(-0.5)`` with ``deg_inv_sqrt[torch.isinf(deg_inv_sqrt)] = 0``,
a ``GraphConvolution`` module with ``Parameter(torch.FloatTensor(in, out))`` and a
``reset_parameters`` using ``uniform_(-stdv, stdv)``, ``register_parameter('bias', None)``,
``F.dropout(x, self.dropout, training=self.training)``, ``F.log_softmax`` + ``F.nll_loss`` on
index masks, ``Adam(weight_decay=5e-4)``, ``output[idx].max(1)[1].type_as(labels)``.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parameter import Parameter

torch.manual_seed(0)
N_PER, K, FEAT = 40, 3, 16
n = N_PER * K
labels = torch.arange(K).repeat_interleave(N_PER)
same = labels.unsqueeze(0) == labels.unsqueeze(1)
prob = torch.where(same, torch.tensor(0.15), torch.tensor(0.01))
upper = torch.triu(torch.rand(n, n) < prob, diagonal=1)
dense = (upper | upper.t()).float() + torch.eye(n)                   # A + I
idx = dense.nonzero().t()
adj = torch.sparse_coo_tensor(idx, torch.ones(idx.size(1)), (n, n)).coalesce()
deg = torch.sparse.sum(adj, dim=1).to_dense()
deg_inv_sqrt = deg.pow(-0.5)
deg_inv_sqrt[torch.isinf(deg_inv_sqrt)] = 0
i, j = adj.indices()
adj = torch.sparse_coo_tensor(adj.indices(), deg_inv_sqrt[i] * adj.values() * deg_inv_sqrt[j],
                              (n, n))
features = 0.5 * F.one_hot(labels, K).float() @ torch.randn(K, FEAT) + torch.randn(n, FEAT)
perm = torch.randperm(n)
idx_train, idx_test = perm[:30], perm[30:]


class GraphConvolution(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.weight = Parameter(torch.FloatTensor(in_features, out_features))
        if bias:
            self.bias = Parameter(torch.FloatTensor(out_features))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1. / math.sqrt(self.weight.size(1))
        self.weight.data.uniform_(-stdv, stdv)
        if self.bias is not None:
            self.bias.data.uniform_(-stdv, stdv)

    def forward(self, input, adj):
        support = torch.mm(input, self.weight)
        output = torch.spmm(adj, support)
        return output + self.bias if self.bias is not None else output


class GCN(nn.Module):
    def __init__(self, nfeat, nhid, nclass, dropout):
        super().__init__()
        self.gc1 = GraphConvolution(nfeat, nhid)
        self.gc2 = GraphConvolution(nhid, nclass, bias=False)
        self.dropout = dropout

    def forward(self, x, adj):
        x = F.relu(self.gc1(x, adj))
        x = F.dropout(x, self.dropout, training=self.training)
        x = torch.sparse.mm(adj, torch.mm(x, self.gc2.weight))
        return F.log_softmax(x, dim=1)


def accuracy(output, labels):
    preds = output.max(1)[1].type_as(labels)
    return preds.eq(labels).double().sum() / len(labels)


model = GCN(FEAT, 16, K, dropout=0.5)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
for epoch in range(100):
    model.train()
    optimizer.zero_grad()
    output = model(features, adj)
    loss_train = F.nll_loss(output[idx_train], labels[idx_train])
    loss_train.backward()
    optimizer.step()
model.eval()
output = model(features, adj)
acc_test = accuracy(output[idx_test], labels[idx_test])
print("train loss:", loss_train.item(), "bias of layer 2:", model.gc2.bias)
print(f"METRIC test_accuracy {acc_test.item():.3f}")
