"""PyTorch's module path ``torch.nn.modules.sparse``: ``Embedding`` (the class of
:mod:`chainrule.nn.modules.embedding`; ``EmbeddingBag`` is not implemented)."""

from chainrule.nn.modules.embedding import Embedding

__all__ = ["Embedding"]
