"""A small CIFAR-style ResNet (BasicBlock with an optional 1x1 projection shortcut) trained with
SGD + momentum, weight decay, MultiStepLR and label smoothing on synthetic 8x8 images.

Idioms: ``expansion = 1`` class attribute, ``self.shortcut = nn.Sequential()`` left empty when
shapes match, ``_make_layer`` with ``strides = [stride] + [1] * (num_blocks - 1)``,
``F.avg_pool2d(out, 2)``, ``out.view(out.size(0), -1)``, ``for m in self.modules():`` with
``nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")`` and
``nn.init.constant_``, zero-initialised last BN of each block (``zero_init_residual``),
``torch.backends.cudnn.benchmark = True``, ``_, predicted = outputs.max(1)`` and
``predicted.eq(targets).sum().item()``, ``train_loss += loss.item()``, ``nn.AdaptiveAvgPool2d``.
"""
import torch
import torch.backends.cudnn as cudnn
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

torch.manual_seed(0)
cudnn.benchmark = True


def make(n):
    # Class 0: horizontal stripes, class 1: vertical stripes, class 2: checkerboard.
    y = torch.randint(0, 3, (n,))
    r = torch.arange(8).view(8, 1).float()
    c = torch.arange(8).view(1, 8).float()
    pats = torch.stack([torch.sin(r * 1.6).expand(8, 8), torch.sin(c * 1.6).expand(8, 8),
                        torch.sin(r * 1.6) * torch.sin(c * 1.6) * 2])
    x = pats[y].unsqueeze(1).repeat(1, 3, 1, 1) + 0.8 * torch.randn(n, 3, 8, 8)
    return x, y


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1, stride=stride,
                          bias=False),
                nn.BatchNorm2d(self.expansion * planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class ResNet(nn.Module):
    def __init__(self, block, num_blocks, num_classes=3, zero_init_residual=True):
        super().__init__()
        self.in_planes = 8
        self.conv1 = nn.Conv2d(3, 8, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = self._make_layer(block, 8, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 16, num_blocks[1], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.linear = nn.Linear(16 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock) and m.bn2.weight is not None:
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for stride in strides:
            layers.append(block(self.in_planes, planes, stride))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer2(self.layer1(out))
        out = F.avg_pool2d(out, 2)
        out = self.avgpool(out)
        out = out.view(out.size(0), -1)
        return self.linear(out)


x, y = make(320)
x_te, y_te = make(200)
net = ResNet(BasicBlock, [1, 1])
criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
optimizer = optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
scheduler = optim.lr_scheduler.MultiStepLR(optimizer, milestones=[4, 6], gamma=0.1)
for epoch in range(7):
    net.train()
    train_loss, correct, total = 0, 0, 0
    for i in range(0, len(x), 32):
        inputs, targets = x[i:i + 32], y[i:i + 32]
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, targets)
        loss.backward()
        optimizer.step()
        train_loss += loss.item()
        _, predicted = outputs.max(1)
        total += targets.size(0)
        correct += predicted.eq(targets).sum().item()
    scheduler.step()
net.eval()
with torch.no_grad():
    _, predicted = net(x_te).max(1)
    acc = predicted.eq(y_te).sum().item() / y_te.size(0)
print("train acc:", correct / total, "params:", sum(p.numel() for p in net.parameters()))
print(f"METRIC test_accuracy {acc:.3f}")
