"""torchvision-shaped image data: ``vision.datasets`` (MNIST, FashionMNIST, CIFAR10, MNIST5k),
``vision.transforms`` (Compose, ToTensor, Normalize, RandomCrop, RandomHorizontalFlip,
Resize, Lambda) and ``vision.utils`` (make_grid, save_image)."""

from chainrule.vision import datasets, transforms, utils

__all__ = ["datasets", "transforms", "utils"]
