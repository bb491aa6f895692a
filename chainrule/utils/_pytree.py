"""Nested containers as trees of leaves (PyTorch's ``torch.utils._pytree``).

A pytree is a leaf or a node whose children are pytrees. The nodes are tuples, lists, dicts
(children in insertion order), named tuples, ``OrderedDict``, ``defaultdict`` and ``deque``,
plus any type given to :func:`register_pytree_node`; everything else (tensors, numbers,
strings, ``None``) is a leaf. ``tree_flatten(t)`` returns the leaves left to right and a
:class:`TreeSpec` that ``tree_unflatten`` turns back into the same structure, so
``tree_map(f, t)`` is ``tree_unflatten([f(x) for x in leaves], spec)``. Programs use it to move
nested batches: ``tree_map(lambda t: t.to(device), batch)``.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = ["TreeSpec", "LeafSpec", "tree_flatten", "tree_unflatten", "tree_map", "tree_map_",
           "tree_map_only", "tree_leaves", "tree_structure", "tree_all", "tree_any",
           "register_pytree_node"]


class _NodeDef(NamedTuple):
    flatten: Callable[[Any], tuple[list[Any], Any]]     # node -> (children, context)
    unflatten: Callable[[Iterable[Any], Any], Any]      # (children, context) -> node


def _dict_flatten(d: dict) -> tuple[list[Any], Any]:
    return list(d.values()), list(d.keys())


def _dict_unflatten(values: Iterable[Any], keys: Any) -> dict:
    return dict(zip(keys, values))


SUPPORTED_NODES: dict[type, _NodeDef] = {
    tuple: _NodeDef(lambda t: (list(t), None), lambda v, _: tuple(v)),
    list: _NodeDef(lambda t: (list(t), None), lambda v, _: list(v)),
    dict: _NodeDef(_dict_flatten, _dict_unflatten),
    collections.OrderedDict: _NodeDef(
        lambda d: (list(d.values()), list(d.keys())),
        lambda v, keys: collections.OrderedDict(zip(keys, v))),
    collections.defaultdict: _NodeDef(
        lambda d: (list(d.values()), (d.default_factory, list(d.keys()))),
        lambda v, ctx: collections.defaultdict(ctx[0], zip(ctx[1], v))),
    collections.deque: _NodeDef(
        lambda d: (list(d), d.maxlen),
        lambda v, maxlen: collections.deque(v, maxlen=maxlen)),
}


def register_pytree_node(cls: type, flatten_fn: Callable[[Any], tuple[list[Any], Any]],
                         unflatten_fn: Callable[[Iterable[Any], Any], Any], *,
                         serialized_type_name: str | None = None, **_: Any) -> None:
    """Make ``cls`` a node: ``flatten_fn(x) -> (children, context)`` and
    ``unflatten_fn(children, context) -> x``."""
    if cls in SUPPORTED_NODES:
        raise ValueError(f"{cls} is already registered as pytree node.")
    SUPPORTED_NODES[cls] = _NodeDef(flatten_fn, unflatten_fn)


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _node_type(x: Any) -> type | None:
    """The registered node type of ``x`` (a named tuple is its own kind), or None for a leaf."""
    if _is_namedtuple(x):
        return NamedTuple
    t = type(x)
    return t if t in SUPPORTED_NODES else None


def _flatten_node(x: Any, kind: type) -> tuple[list[Any], Any]:
    if kind is NamedTuple:
        return list(x), type(x)
    return SUPPORTED_NODES[kind].flatten(x)


def _unflatten_node(kind: type, children: list[Any], context: Any) -> Any:
    if kind is NamedTuple:
        return context(*children)
    return SUPPORTED_NODES[kind].unflatten(children, context)


@dataclass
class TreeSpec:
    """The shape of a pytree: a node's type, its context (dict keys, named-tuple class ...) and
    its children's specs; a leaf is :class:`LeafSpec`."""

    type: Any
    context: Any
    children_specs: list[TreeSpec] = field(default_factory=list)

    @property
    def num_children(self) -> int:
        return len(self.children_specs)

    @property
    def num_leaves(self) -> int:
        return sum(c.num_leaves for c in self.children_specs)

    def is_leaf(self) -> bool:
        return False

    def unflatten(self, leaves: Iterable[Any]) -> Any:
        leaves = list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(f"treespec.unflatten(leaves): `leaves` has length {len(leaves)} "
                             f"but the spec refers to a pytree that holds {self.num_leaves} "
                             f"items ({self}).")
        return self._build(iter(leaves))

    def _build(self, it: Any) -> Any:
        children = [c._build(it) for c in self.children_specs]
        return _unflatten_node(self.type, children, self.context)

    def __repr__(self) -> str:
        name = "namedtuple" if self.type is NamedTuple else getattr(self.type, "__name__",
                                                                   str(self.type))
        return f"TreeSpec({name}, {self.context!r}, {self.children_specs!r})"


class LeafSpec(TreeSpec):
    """The spec of one leaf."""

    def __init__(self) -> None:
        super().__init__(None, None, [])

    @property
    def num_leaves(self) -> int:
        return 1

    def is_leaf(self) -> bool:
        return True

    def _build(self, it: Any) -> Any:
        return next(it)

    def __repr__(self) -> str:
        return "*"


def _flatten(tree: Any, leaves: list[Any], is_leaf: Callable[[Any], bool] | None) -> TreeSpec:
    kind = None if (is_leaf is not None and is_leaf(tree)) else _node_type(tree)
    if kind is None:
        leaves.append(tree)
        return LeafSpec()
    children, context = _flatten_node(tree, kind)
    return TreeSpec(kind, context, [_flatten(c, leaves, is_leaf) for c in children])


def tree_flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None
                 ) -> tuple[list[Any], TreeSpec]:
    """(the leaves left to right, the spec to rebuild ``tree`` from them)."""
    leaves: list[Any] = []
    spec = _flatten(tree, leaves, is_leaf)
    return leaves, spec


def tree_unflatten(leaves: Iterable[Any], treespec: TreeSpec) -> Any:
    """The pytree of ``treespec``'s shape holding ``leaves``."""
    if not isinstance(treespec, TreeSpec):
        raise TypeError(f"tree_unflatten(leaves, treespec): Expected `treespec` to be instance "
                        f"of TreeSpec but got item of type {type(treespec)}.")
    return treespec.unflatten(leaves)


def tree_leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list[Any]:
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> TreeSpec:
    return tree_flatten(tree, is_leaf)[1]


def _leaves_of_each(spec: TreeSpec, rests: tuple, is_leaf: Any) -> list[list[Any]]:
    """The leaves of every tree in ``rests``, each cut to ``spec``'s structure (a ValueError
    naming the mismatch, as PyTorch, when one has another shape)."""
    out = []
    for r in rests:
        out.append(_flatten_up_to(spec, r, is_leaf))
    return out


def _flatten_up_to(spec: TreeSpec, tree: Any, is_leaf: Any) -> list[Any]:
    if spec.is_leaf():
        return [tree]
    kind = _node_type(tree)
    if kind is not spec.type:
        raise ValueError(f"Node type mismatch; expected {spec.type}, but got {type(tree)}.")
    children, context = _flatten_node(tree, kind)
    if len(children) != spec.num_children:
        raise ValueError(f"Node arity mismatch; expected {spec.num_children}, but got "
                         f"{len(children)}.")
    if kind in (dict, collections.OrderedDict) and set(context) != set(spec.context):
        raise ValueError(f"Node context mismatch for custom node type {kind}.")
    if kind in (dict, collections.OrderedDict):
        children = [tree[k] for k in spec.context]
    leaves: list[Any] = []
    for c_spec, c in zip(spec.children_specs, children):
        leaves += _flatten_up_to(c_spec, c, is_leaf)
    return leaves


def tree_map(func: Callable[..., Any], tree: Any, *rests: Any,
             is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """``tree``'s structure with ``func(leaf, *matching leaves of rests)`` at each leaf."""
    leaves, spec = tree_flatten(tree, is_leaf)
    others = _leaves_of_each(spec, rests, is_leaf)
    return spec.unflatten(func(*xs) for xs in zip(leaves, *others))


def tree_map_(func: Callable[..., Any], tree: Any, *rests: Any,
              is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """Call ``func`` on every leaf for its side effect; returns ``tree`` itself."""
    leaves, spec = tree_flatten(tree, is_leaf)
    for xs in zip(leaves, *_leaves_of_each(spec, rests, is_leaf)):
        func(*xs)
    return tree


def tree_map_only(type_or_types: type | tuple[type, ...], func: Callable[[Any], Any],
                  tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """``tree_map`` applying ``func`` only to leaves of the given type(s)."""
    return tree_map(lambda x: func(x) if isinstance(x, type_or_types) else x, tree,
                    is_leaf=is_leaf)


def tree_all(pred: Callable[[Any], bool], tree: Any,
             is_leaf: Callable[[Any], bool] | None = None) -> bool:
    return all(map(pred, tree_leaves(tree, is_leaf)))


def tree_any(pred: Callable[[Any], bool], tree: Any,
             is_leaf: Callable[[Any], bool] | None = None) -> bool:
    return any(map(pred, tree_leaves(tree, is_leaf)))
