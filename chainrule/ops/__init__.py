"""Primitive operations: one class per op, forward on arrays and backward on Tensors.

A composite (softmax, losses, layer norm...) is not an op: it lives with the Tensor methods or
in ``nn.functional`` and gets its gradient from the primitives it is made of.
"""
