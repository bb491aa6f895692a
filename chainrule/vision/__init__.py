"""torchvision-shaped image data: ``vision.datasets`` (MNIST, FashionMNIST, CIFAR10, MNIST5k),
``vision.transforms`` (Compose, ToTensor, Normalize, RandomCrop, RandomHorizontalFlip,
Resize, Lambda), ``vision.utils`` (make_grid, save_image) and ``vision.models`` (the ResNet
family, ``weights=None``)."""

from chainrule.vision import datasets, models, transforms, utils

__all__ = ["datasets", "models", "transforms", "utils"]
