"""Neural style transfer in the tutorial's form, on a small fixed convolutional feature
extractor in float64: content and style losses are transparent modules inserted after chosen
layers, and the input image is optimised with L-BFGS.

Idioms: ``torch.set_default_dtype(torch.float64)``, a ``gram_matrix`` with ``input.size()``,
``view(a * b, c * d)``, ``torch.mm(features, features.t())``, ``G.div(a * b * c * d)``; loss
modules that keep ``self.target = target.detach()`` and set ``self.loss`` in ``forward`` while
returning the input; building ``nn.Sequential`` by iterating ``cnn.children()`` with
``isinstance(layer, nn.Conv2d)`` and ``model.add_module(name, layer)``; trimming with
``model[:(i + 1)]``; ``nn.ReLU(inplace=False)``; ``input_img.requires_grad_(True)``,
``model.eval()`` / ``model.requires_grad_(False)``; ``optim.LBFGS([input_img])`` whose closure
clamps with ``with torch.no_grad(): input_img.clamp_(0, 1)`` and counts calls in ``run[0]``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

torch.set_default_dtype(torch.float64)
assert torch.get_default_dtype() == torch.float64
SIZE = 12


def image(kind):
    r = torch.arange(SIZE).view(1, 1, SIZE, 1).expand(1, 3, SIZE, SIZE)
    c = torch.arange(SIZE).view(1, 1, 1, SIZE).expand(1, 3, SIZE, SIZE)
    ch = torch.arange(3).view(1, 3, 1, 1)
    if kind == "content":
        return ((r + c + ch) % 5).double() / 4.0
    return 0.5 + 0.5 * torch.sin((r * 0.9 - c * 0.6 + ch).double())


def fixed_cnn():
    # Deterministic filters (no random numbers) so both libraries see the same network.
    convs = [nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 6, 3, padding=1)]
    layers = []
    for k, conv in enumerate(convs):
        n = conv.weight.numel()
        w = torch.cos(torch.arange(n, dtype=torch.float64) * (0.37 + k)).view_as(conv.weight)
        with torch.no_grad():
            conv.weight.copy_(w * 0.3)
            conv.bias.fill_(0.01 * (k + 1))
        layers += [conv, nn.ReLU(inplace=True)]
    layers.insert(2, nn.AvgPool2d(2))
    return nn.Sequential(*layers)


def gram_matrix(input):
    a, b, c, d = input.size()
    features = input.view(a * b, c * d)
    G = torch.mm(features, features.t())
    return G.div(a * b * c * d)


class ContentLoss(nn.Module):
    def __init__(self, target):
        super().__init__()
        self.target = target.detach()

    def forward(self, input):
        self.loss = F.mse_loss(input, self.target)
        return input


class StyleLoss(nn.Module):
    def __init__(self, target_feature):
        super().__init__()
        self.target = gram_matrix(target_feature).detach()

    def forward(self, input):
        self.loss = F.mse_loss(gram_matrix(input), self.target)
        return input


class Normalization(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)

    def forward(self, img):
        return (img - self.mean) / self.std


def get_style_model_and_losses(cnn, style_img, content_img):
    normalization = Normalization([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    content_losses, style_losses = [], []
    model = nn.Sequential(normalization)
    i = 0
    for layer in cnn.children():
        if isinstance(layer, nn.Conv2d):
            i += 1
            name = f"conv_{i}"
        elif isinstance(layer, nn.ReLU):
            name = f"relu_{i}"
            layer = nn.ReLU(inplace=False)
        elif isinstance(layer, nn.AvgPool2d):
            name = f"pool_{i}"
        else:
            raise RuntimeError(f"Unrecognized layer: {layer.__class__.__name__}")
        model.add_module(name, layer)
        if name == "conv_2":
            content_loss = ContentLoss(model(content_img).detach())
            model.add_module(f"content_loss_{i}", content_loss)
            content_losses.append(content_loss)
        if name in ("conv_1", "conv_2"):
            style_loss = StyleLoss(model(style_img).detach())
            model.add_module(f"style_loss_{i}", style_loss)
            style_losses.append(style_loss)
    for i in range(len(model) - 1, -1, -1):
        if isinstance(model[i], (ContentLoss, StyleLoss)):
            break
    return model[:(i + 1)], style_losses, content_losses


content_img, style_img = image("content"), image("style")
input_img = content_img.clone()
model, style_losses, content_losses = get_style_model_and_losses(fixed_cnn(), style_img,
                                                                 content_img)
input_img.requires_grad_(True)
model.eval()
model.requires_grad_(False)
optimizer = optim.LBFGS([input_img])
style_weight, content_weight = 1e4, 1
run = [0]
while run[0] <= 60:
    def closure():
        with torch.no_grad():
            input_img.clamp_(0, 1)
        optimizer.zero_grad()
        model(input_img)
        style_score = sum(sl.loss for sl in style_losses) * style_weight
        content_score = sum(cl.loss for cl in content_losses) * content_weight
        loss = style_score + content_score
        loss.backward()
        run[0] += 1
        return style_score + content_score
    optimizer.step(closure)
with torch.no_grad():
    input_img.clamp_(0, 1)
model(input_img)
final = (sum(sl.loss for sl in style_losses) * style_weight
         + sum(cl.loss for cl in content_losses) * content_weight).item()
torch.set_default_dtype(torch.float32)          # leave the process as we found it
print("closure calls:", run[0], "layers kept:", len(model))
print(f"METRIC final_loss {final:.6f}")
