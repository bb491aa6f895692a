"""PyTorch's module path ``torch.nn.modules.sparse``: ``Embedding`` and ``EmbeddingBag`` (the
classes of :mod:`chainrule.nn.modules.embedding`)."""

from chainrule.nn.modules.embedding import Embedding, EmbeddingBag

__all__ = ["Embedding", "EmbeddingBag"]
