"""``torchvision.models``: architectures built from scratch (``weights=None``).

chainrule downloads nothing, so no pretrained weights exist: ``weights=`` other than None (and
the legacy ``pretrained=True``) raise a ``ValueError`` saying so. Module names, parameter shapes,
``state_dict`` keys and initialisation are torchvision's, so a torchvision checkpoint loads with
``load_state_dict``.
"""

from chainrule.vision.models.resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50",
           "resnet101", "resnet152"]
