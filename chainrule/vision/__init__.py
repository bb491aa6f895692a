"""torchvision-shaped image data: ``vision.datasets`` (MNIST, FashionMNIST, CIFAR10, MNIST5k)
and ``vision.transforms`` (Compose, ToTensor, Normalize, RandomCrop, RandomHorizontalFlip,
Lambda)."""

from chainrule.vision import datasets, transforms

__all__ = ["datasets", "transforms"]
