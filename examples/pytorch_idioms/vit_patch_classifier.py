"""A tiny Vision Transformer: patches from a strided convolution, a learned class token and
position embedding, pre-norm encoder blocks, classification from the class token.

Idioms: ``nn.Conv2d(c, dim, kernel_size=p, stride=p)`` then ``x.flatten(2).transpose(1, 2)``,
``nn.Parameter(torch.zeros(1, 1, dim))`` class token ``expand(B, -1, -1)``, ``torch.cat((cls,
x), dim=1)``, ``nn.init.trunc_normal_(..., std=0.02)``, ``nn.LayerNorm`` / ``nn.GELU`` /
``nn.Identity``, ``self.attn(x, x, x, need_weights=False)[0]``, ``self.apply(self._init_weights)``
with ``isinstance`` branches, ``named_parameters`` with ``p.ndim < 2`` excluded from weight decay,
``AdamW`` param groups, ``CosineAnnealingLR``, ``F.cross_entropy(..., label_smoothing=0.1)``,
``torch.inference_mode()``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


def make(n):
    # Class = which quadrant of an 8x8 image holds a bright 2x2 blob.
    x = 0.2 * torch.randn(n, 1, 8, 8)
    y = torch.randint(0, 4, (n,))
    rows, cols = (y // 2) * 4, (y % 2) * 4
    off = torch.randint(0, 3, (n, 2))
    for i in range(n):
        r, c = int(rows[i] + off[i, 0]), int(cols[i] + off[i, 1])
        x[i, 0, r:r + 2, c:c + 2] += 2.0
    return x, y


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=2.0, drop=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=drop, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(),
                                 nn.Dropout(drop), nn.Linear(int(dim * mlp_ratio), dim))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, img=8, patch=2, dim=32, depth=2, heads=4, num_classes=4):
        super().__init__()
        self.patch_embed = nn.Conv2d(1, dim, kernel_size=patch, stride=patch)
        num_patches = (img // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, dim))
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.pre_logits = nn.Identity()
        self.head = nn.Linear(dim, num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=1.0, a=-2.0, b=2.0)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(self._init_weights)

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x):
        B = x.shape[0]
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(B, -1, -1)
        x = torch.cat((cls, x), dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(self.pre_logits(x[:, 0]))


x, y = make(400)
x_te, y_te = make(200)
model = ViT()
decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "embed" in n]
optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                               {"params": no_decay, "weight_decay": 0.0}], lr=3e-3)
EPOCHS = 12
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)
n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
for epoch in range(EPOCHS):
    model.train()
    perm = torch.randperm(len(x))
    for i in range(0, len(x), 50):
        idx = perm[i:i + 50]
        loss = F.cross_entropy(model(x[idx]), y[idx], label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    scheduler.step()
model.eval()
with torch.inference_mode():
    acc = (model(x_te).argmax(dim=-1) == y_te).float().mean().item()
print("parameters:", n_params, "last lr:", scheduler.get_last_lr()[0])
print(f"METRIC test_accuracy {acc:.3f}")
