"""``chainrule.func``: PyTorch's ``torch.func`` transforms, built on chainrule's reverse mode.

* :func:`functional_call` runs a module with some parameters/buffers replaced, leaving the
  module unchanged afterwards;
* :func:`grad`, :func:`grad_and_value`, :func:`vjp`, :func:`jvp`, :func:`jacrev`, :func:`jacfwd`,
  :func:`hessian` differentiate functions of tensors (and of pytrees of tensors: dicts,
  lists, tuples);
* :func:`vmap` maps a function over a batch dimension.

How they differ from ``torch.func`` (the results are the same):

* :func:`vmap` is a *loop and stack*: ``f`` runs once per batch index on a slice of each
  mapped input and the outputs are stacked along ``out_dims``. It therefore works for every
  function (nesting, ``in_dims`` of ``None``/ints/pytrees, ``out_dims``), at the cost of one
  Python call per example instead of one batched kernel. ``randomness='error'`` is enforced
  by checking whether the default generator advanced during a call; ``'same'`` replays the
  default generator's state for every example; ``'different'`` lets it advance.
* :func:`jacfwd` is computed by reverse mode (one vector-Jacobian product per output
  element), exactly like :func:`jacrev`; only the cost differs from PyTorch's forward mode.
* The transforms nest (``jacfwd(jacrev(f))``, ``vmap(grad(f))``): inside another transform
  the gradients are built with ``create_graph=True`` so the outer one can differentiate them.

Example (per-example gradients, as in PyTorch's tutorial)::

    from chainrule.func import functional_call, grad, vmap
    params = {k: v.detach() for k, v in model.named_parameters()}
    def loss(params, x, y):
        return F.cross_entropy(functional_call(model, params, (x[None],)), y[None])
    per_example = vmap(grad(loss), in_dims=(None, 0, 0))(params, X, Y)
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from chainrule.autograd.engine import enable_grad
from chainrule.creation import from_numpy, zeros_like
from chainrule.tensor import Tensor, stack

__all__ = [
    "functional_call", "stack_module_state", "grad", "grad_and_value", "vjp", "jvp", "jacrev",
    "jacfwd", "hessian", "vmap",
]

# ---- pytrees ---------------------------------------------------------------------------------
# A spec is ("leaf",), ("tuple"|"list", [specs]), ("dict", keys, [specs]) or ("const", value).


def _flatten(tree: Any) -> tuple[list[Any], tuple]:
    """Leaves (tensors and other non-container values) of ``tree`` and its structure."""
    if isinstance(tree, (tuple, list)) and not isinstance(tree, Tensor):
        leaves: list[Any] = []
        specs = []
        for item in tree:
            sub, spec = _flatten(item)
            leaves += sub
            specs.append(spec)
        kind = type(tree) if hasattr(tree, "_fields") else ("tuple" if isinstance(tree, tuple)
                                                            else "list")
        return leaves, (kind, specs)
    if isinstance(tree, Mapping):
        leaves = []
        specs = []
        keys = list(tree.keys())
        for k in keys:
            sub, spec = _flatten(tree[k])
            leaves += sub
            specs.append(spec)
        return leaves, ("dict", keys, specs)
    return [tree], ("leaf",)


def _unflatten(spec: tuple, leaves: Iterator[Any]) -> Any:
    kind = spec[0]
    if kind == "leaf":
        return next(leaves)
    if kind == "dict":
        return {k: _unflatten(s, leaves) for k, s in zip(spec[1], spec[2])}
    items = [_unflatten(s, leaves) for s in spec[1]]
    if kind == "tuple":
        return tuple(items)
    if kind == "list":
        return items
    return kind(*items)  # a namedtuple class


def _tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    leaves, spec = _flatten(tree)
    return _unflatten(spec, iter([fn(x) for x in leaves]))


def _broadcast_prefix(prefix: Any, tree: Any, what: str) -> list[Any]:
    """One entry of ``prefix`` (an int/None, or a pytree matching the top of ``tree``) per
    leaf of ``tree`` (PyTorch's rule for ``in_dims`` and ``out_dims``)."""
    if prefix is None or isinstance(prefix, int):
        return [prefix] * len(_flatten(tree)[0])
    if isinstance(prefix, Mapping) and isinstance(tree, Mapping):
        if set(prefix) != set(tree):
            raise ValueError(f"vmap: {what} keys {sorted(prefix)} do not match the input's "
                             f"keys {sorted(tree)}")
        return [d for k in tree for d in _broadcast_prefix(prefix[k], tree[k], what)]
    if isinstance(prefix, (tuple, list)) and isinstance(tree, (tuple, list)):
        if len(prefix) != len(tree):
            raise ValueError(f"vmap: {what} has {len(prefix)} entries for an input with "
                             f"{len(tree)}")
        return [d for p, t in zip(prefix, tree) for d in _broadcast_prefix(p, t, what)]
    raise ValueError(f"vmap: {what}={prefix!r} does not match the structure of the input "
                     f"({type(tree).__name__}); use an int, None or a matching pytree")


# ---- functional_call -------------------------------------------------------------------------


def _owner(module: Any, name: str) -> tuple[Any, str]:
    *path, attr = name.split(".")
    owner = module
    for p in path:
        try:
            owner = owner._modules[p]
        except KeyError as err:
            raise AttributeError(f"functional_call: {type(module).__name__} has no submodule "
                                 f"{'.'.join(path)!r} (from the key {name!r})") from err
    return owner, attr


@contextlib.contextmanager
def _swapped(module: Any, tensors: dict[str, Any], tie_weights: bool) -> Iterator[None]:
    """Replace the named parameters/buffers for the duration of the block (stored directly in
    the module's dictionaries, so a plain Tensor may stand in for a Parameter)."""
    tensors = dict(tensors)
    if tie_weights:  # a tied weight (one Parameter under several names) follows its twin
        names: dict[int, list[str]] = {}
        for store in ("named_parameters", "named_buffers"):
            for n, t in getattr(module, store)(remove_duplicate=False):
                names.setdefault(id(t), []).append(n)
        for group in names.values():
            given = [n for n in group if n in tensors]
            if len(given) > 1 and any(tensors[n] is not tensors[given[0]] for n in given):
                raise ValueError(f"functional_call: tied names {given} were given different "
                                 "tensors (pass one, or tie_weights=False)")
            if given:
                for n in group:
                    tensors.setdefault(n, tensors[given[0]])
    saved = []
    try:
        for name, value in tensors.items():
            owner, attr = _owner(module, name)
            for store in ("_parameters", "_buffers"):
                d = owner.__dict__[store]
                if attr in d:
                    saved.append((d, attr, d[attr]))
                    d[attr] = value
                    break
            else:
                saved.append((owner.__dict__, attr, owner.__dict__.get(attr, _MISSING)))
                owner.__dict__[attr] = value
        yield
    finally:
        for d, attr, old in reversed(saved):
            if old is _MISSING:
                d.pop(attr, None)
            else:
                d[attr] = old


_MISSING = object()


def functional_call(module: Any, parameter_and_buffer_dicts: Any, args: Any = None,
                    kwargs: dict | None = None, *, tie_weights: bool = True,
                    strict: bool = False) -> Any:
    """``module(*args, **kwargs)`` with the parameters and buffers named in the dict(s)
    replaced by the given tensors; the module is unchanged afterwards.

    ``parameter_and_buffer_dicts`` is a dict (``{"0.weight": w, ...}``, the names of
    ``named_parameters``/``named_buffers``) or a tuple of dicts that are merged. Names not given
    keep the module's own tensors, unless ``strict=True`` (then every parameter and buffer
    must be given, and nothing else). A non-tuple ``args`` is one positional argument.
    """
    if isinstance(parameter_and_buffer_dicts, Mapping):
        merged = dict(parameter_and_buffer_dicts)
    else:
        merged = {}
        for d in parameter_and_buffer_dicts:
            dup = set(merged) & set(d)
            if dup:
                raise ValueError(f"functional_call: {sorted(dup)} appear in more than one dict")
            merged.update(d)
    if strict:
        expected = {n for n, _ in module.named_parameters(remove_duplicate=False)}
        expected |= {n for n, _ in module.named_buffers(remove_duplicate=False)}
        missing, unexpected = sorted(expected - set(merged)), sorted(set(merged) - expected)
        if missing or unexpected:
            raise RuntimeError(f"functional_call (strict=True): missing keys {missing}, "
                               f"unexpected keys {unexpected}")
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _swapped(module, merged, tie_weights):
        return module(*args, **(kwargs or {}))


def stack_module_state(models: Sequence[Any]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """``(params, buffers)`` of several models of one architecture, each entry the models'
    tensors stacked along a new first dim (for ``vmap(functional_call ...)`` over an
    ensemble, as ``torch.func.stack_module_state``). The stacked parameters are new leaves
    that require grad; the buffers are plain stacks."""
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if len({m.training for m in models}) > 1:
        raise RuntimeError("stack_module_state: Expected all models to have the same training/"
                           "eval mode.")
    first = models[0]
    params = {name: stack([dict(m.named_parameters())[name].detach() for m in models])
              .requires_grad_(True) for name, _ in first.named_parameters()}
    buffers = {name: stack([dict(m.named_buffers())[name] for m in models])
               for name, _ in first.named_buffers()}
    return params, buffers


# ---- reverse-mode transforms ----------------------------------------------------------------

_level = threading.local()


def _depth() -> int:
    return getattr(_level, "depth", 0)


@contextlib.contextmanager
def _inside() -> Iterator[None]:
    _level.depth = _depth() + 1
    try:
        with enable_grad():
            yield
    finally:
        _level.depth -= 1


def _track(x: Any) -> Any:
    """A fresh graph node standing for input ``x``: gradients are taken with respect to it
    only (not to other uses of ``x`` closed over by the function), and it stays connected to
    ``x``'s own graph so an enclosing transform can differentiate through it."""
    if not isinstance(x, Tensor):
        raise TypeError(f"expected tensors as the inputs to differentiate, got "
                        f"{type(x).__name__}")
    if not np.issubdtype(x._array.dtype, np.floating):
        raise RuntimeError(f"only floating-point tensors can be differentiated, got dtype "
                           f"{x.dtype}")
    if x.requires_grad:
        return x.clone()  # NOTE: a view would make gradients flow to the base's other uses
    return x.detach().requires_grad_(True)


def _argnums(argnums: int | tuple[int, ...], nargs: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums:
        raise RuntimeError("argnums must be a non-empty int or tuple of ints")
    for a in nums:
        if not isinstance(a, int) or not -nargs <= a < nargs:
            raise RuntimeError(f"Got argnums={argnums!r} for a function called with {nargs} "
                               "positional arguments")
    return tuple(a % nargs for a in nums)


def _prepare(args: tuple, nums: tuple[int, ...]) -> tuple[list, list, list]:
    """(new args, per-argnum (leaves, spec), flat list of tracked leaves)."""
    args = list(args)
    trees = []
    flat = []
    for a in nums:
        leaves, spec = _flatten(args[a])
        tracked = [_track(x) for x in leaves]
        args[a] = _unflatten(spec, iter(tracked))
        trees.append((tracked, spec))
        flat += tracked
    return args, trees, flat


def _keep_graph(originals: list[Any]) -> bool:
    """Build differentiable gradients when an enclosing transform or autograd may need them."""
    return _depth() > 1 or any(isinstance(x, Tensor) and x.requires_grad for x in originals)


def _grads(outputs: list, inputs: list, cotangents: list, create_graph: bool) -> list:
    from chainrule.autograd import grad as autograd_grad

    pairs = [(o, c) for o, c in zip(outputs, cotangents) if o.requires_grad]
    if not pairs or not inputs:
        return [zeros_like(x).detach() for x in inputs]
    res = autograd_grad([o for o, _ in pairs], inputs, [c for _, c in pairs],
                        retain_graph=True, create_graph=create_graph, allow_unused=True)
    out = []
    for x, r in zip(inputs, res):
        r = zeros_like(x).detach() if r is None else r
        out.append(r if create_graph else r.detach())
    return out


def _split_aux(out: Any, has_aux: bool, api: str) -> tuple[Any, Any]:
    """(output, aux) of a ``has_aux=True`` function; (output, None) otherwise."""
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(f"{api}: output of function f should be a tuple: (output, aux) if "
                           "has_aux is True")
    return out


def _detach_tree(tree: Any, keep: bool) -> Any:
    if keep:
        return tree
    return _tree_map(lambda t: t.detach() if isinstance(t, Tensor) else t, tree)


def grad_and_value(func: Callable, argnums: int | tuple[int, ...] = 0,
                   has_aux: bool = False) -> Callable:
    """``(∇f, f)``: like :func:`grad`, also returning the value (and ``(value, aux)`` with
    ``has_aux=True``, as ``torch.func.grad_and_value``)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args))
        originals = [x for a in nums for x in _flatten(args[a])[0]]
        with _inside():
            new_args, trees, flat = _prepare(args, nums)
            keep = _keep_graph(originals)
            out = func(*new_args, **kwargs)
            out, aux = _split_aux(out, has_aux, "grad_and_value(f)(*args)")
            if not isinstance(out, Tensor) or out.numel() != 1 or out.ndim != 0:
                what = f"tensor with {out.ndim} dims" if isinstance(out, Tensor) else (
                    type(out).__name__)
                raise RuntimeError("grad_and_value(f)(*args): Expected f(*args) to return a "
                                   f"scalar Tensor, got {what}. Maybe you wanted to use the "
                                   "vjp or jacrev APIs instead?")
            gs = iter(_grads([out], flat, [_ones(out)], keep))
        results = tuple(_unflatten(spec, gs) for _, spec in trees)
        g = results[0] if isinstance(argnums, int) else results
        value = out if keep else out.detach()
        if has_aux:
            return g, (value, _detach_tree(aux, keep))
        return g, value

    return wrapper


def _ones(t: Tensor) -> Tensor:
    from chainrule.creation import ones_like

    return ones_like(t).detach()


def grad(func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable:
    """The gradient of a scalar-valued ``func`` with respect to argument(s) ``argnums``.

    ``grad(f)(x) = ∂f/∂x`` with the structure of ``x`` (a tensor, or a dict/tuple/list of
    tensors); for a tuple ``argnums`` a tuple of such gradients. With ``has_aux=True`` ``f``
    returns ``(value, aux)`` and ``grad`` returns ``(gradient, aux)``.

    Example::

        grad(lambda x: (x ** 3).sum())(chainrule.tensor([2.0]))      # tensor([12.])
    """
    gv = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


def _call_on_primals(func: Callable, primals: tuple, has_aux: bool, api: str,
                     also_keep_for: Sequence[Any] = ()) -> tuple:
    """``(keep, trees, flat, out, aux)``: ``func`` run on tracked copies of all ``primals``
    (called inside ``_inside()``); its outputs must be tensors. ``keep`` says whether the
    gradients must stay differentiable (``also_keep_for``: more tensors that may ask so)."""
    originals = [x for p in primals for x in _flatten(p)[0]] + list(also_keep_for)
    keep = _keep_graph(originals)
    new_args, trees, flat = _prepare(primals, tuple(range(len(primals))))
    out, aux = _split_aux(func(*new_args), has_aux, api)
    for o in _flatten(out)[0]:
        if not isinstance(o, Tensor):
            raise RuntimeError(f"{api}: expected f to return tensors, got {type(o).__name__}")
    return keep, trees, flat, out, aux


def vjp(func: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """``(func(*primals), vjp_fn)``; ``vjp_fn(v)`` returns ``vᵀ ∂func/∂primals`` as a tuple with
    one entry per primal (``v`` has the structure of the output). With ``has_aux=True``:
    ``(output, vjp_fn, aux)``."""
    with _inside():
        keep, trees, flat, out, aux = _call_on_primals(func, primals, has_aux,
                                                       "vjp(f, *primals)")
    out_leaves, out_spec = _flatten(out)

    def vjp_fn(cotangents: Any) -> tuple:
        cot_leaves, cot_spec = _flatten(cotangents)
        if cot_spec != out_spec:
            raise RuntimeError("vjp_fn: expected the cotangents to have the same structure as "
                               "the output of f")
        for o, c in zip(out_leaves, cot_leaves):
            if tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(f"vjp_fn: cotangent of shape {tuple(c.shape)} for an output "
                                   f"of shape {tuple(o.shape)}")
        with _inside():
            inner_keep = keep or _depth() > 1 or any(c.requires_grad for c in cot_leaves)
            gs = iter(_grads(out_leaves, flat, cot_leaves, inner_keep))
        return tuple(_unflatten(spec, gs) for _, spec in trees)

    value = _detach_tree(out, keep)
    if has_aux:
        return value, vjp_fn, _detach_tree(aux, keep)
    return value, vjp_fn


def jvp(func: Callable, primals: Any, tangents: Any, *, strict: bool = False,
        has_aux: bool = False) -> tuple:
    """``(func(*primals), J·tangents)``: the Jacobian-vector product, as ``torch.func.jvp``.

    Computed in reverse mode by the double-vjp trick: for a dummy cotangent ``u`` the
    vector-Jacobian product ``g(u) = uᵀJ`` is linear in ``u``, so ``∂(g(u)·t)/∂u = J t``. The
    output of the second product has the structure of ``func``'s output. With
    ``has_aux=True``: ``(output, jvp_out, aux)``.
    """
    del strict  # PyTorch's flag only chooses between erroring and zero-filling; zeros are exact
    for name, value in (("primals", primals), ("tangents", tangents)):
        if not isinstance(value, tuple):
            raise RuntimeError(f"jvp(f, primals, tangents): Expected {name} to be a tuple. "
                               f"E.g. it should be valid to call f(*{name}).")
    if len(primals) != len(tangents):
        raise RuntimeError(f"jvp(f, primals, tangents): Expected primals and tangents to have "
                           f"the same length, got {len(primals)} and {len(tangents)}")
    t_leaves, t_spec = _flatten(tangents)
    p_leaves, p_spec = _flatten(primals)
    if t_spec != p_spec or any(tuple(p.shape) != tuple(t.shape)
                               for p, t in zip(p_leaves, t_leaves)):
        raise RuntimeError("jvp(f, primals, tangents): Expected primals and tangents to have "
                           "the same structure and each tangent the shape of its primal")
    with _inside():
        keep, _, flat, out, aux = _call_on_primals(func, primals, has_aux,
                                                   "jvp(f, primals, tangents)", t_leaves)
        out_leaves, out_spec = _flatten(out)
        dummies = [zeros_like(o).detach().requires_grad_(True) for o in out_leaves]
        vjps = _grads(out_leaves, flat, dummies, create_graph=True)
        jvps = _grads(vjps, dummies, t_leaves, keep)
    result = (_detach_tree(out, keep), _unflatten(out_spec, iter(jvps)))
    return (*result, _detach_tree(aux, keep)) if has_aux else result


def jacrev(func: Callable, argnums: int | tuple[int, ...] = 0, *, has_aux: bool = False,
           chunk_size: int | None = None, _preallocate_and_copy: bool = False) -> Callable:
    """The Jacobian of ``func`` with respect to argument(s) ``argnums``, row by row (one
    vector-Jacobian product per output element).

    For an output of shape ``O`` and an input of shape ``I`` the block has shape ``O + I``; the
    result nests as PyTorch's: output structure, then (for a tuple ``argnums``) one entry per
    argument, then the argument's own structure.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args))
        originals = [x for a in nums for x in _flatten(args[a])[0]]
        with _inside():
            keep = _keep_graph(originals)
            new_args, trees, flat = _prepare(args, nums)
            out = func(*new_args, **kwargs)
            out, aux = _split_aux(out, has_aux, "jacrev(f, ...)(*args)")
            out_leaves, out_spec = _flatten(out)
            blocks = [_jacobian_block(o, out_leaves, flat, keep) for o in out_leaves]
        per_out = []
        for block in blocks:
            gs = iter(block)
            res = tuple(_unflatten(spec, gs) for _, spec in trees)
            per_out.append(res[0] if isinstance(argnums, int) else res)
        jac = _unflatten(out_spec, iter(per_out))
        return (jac, _detach_tree(aux, keep)) if has_aux else jac

    return wrapper


def _jacobian_block(o: Any, outs: list, inputs: list, keep: bool) -> list[Tensor]:
    """∂o/∂x for every input x, shaped ``o.shape + x.shape``."""
    if not isinstance(o, Tensor):
        raise RuntimeError(f"jacrev: expected f to return tensors, got {type(o).__name__}")
    rows = []
    n = o.numel()
    for j in range(n):
        e = np.zeros(n, dtype=o._array.dtype)
        e[j] = 1.0
        rows.append(_grads([o], inputs, [from_numpy(e.reshape(o.shape))], keep))
    result = []
    for i, x in enumerate(inputs):
        if n == 0:
            from chainrule.creation import zeros

            result.append(zeros(*(tuple(o.shape) + tuple(x.shape)), dtype=x.dtype))
            continue
        stacked = stack([r[i] for r in rows])
        result.append(stacked.reshape(tuple(o.shape) + tuple(x.shape)))
    return result


def jacfwd(func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False, *,
           randomness: str = "error") -> Callable:
    """The Jacobian of ``func`` (same result and layout as :func:`jacrev`).

    NOTE: computed by reverse mode, one vector-Jacobian product per output element; PyTorch
    uses forward mode (one Jacobian-vector product per input element). The values agree; only
    the cost scales differently.
    """
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or "
                           f"'same'. Got {randomness}")
    return jacrev(func, argnums, has_aux=has_aux)


def hessian(func: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """The Hessian of a scalar ``func``: ``jacfwd(jacrev(func, argnums), argnums)``."""
    return jacfwd(jacrev(func, argnums), argnums)


# ---- vmap ------------------------------------------------------------------------------------


def _batch_size(leaves: list, dims: list) -> int:
    sizes = set()
    for x, d in zip(leaves, dims):
        if d is None:
            continue
        if not isinstance(x, Tensor):
            raise ValueError(f"vmap: in_dim={d} given for a {type(x).__name__} input; only "
                             "tensors can be mapped (use None)")
        if not -x.ndim <= d < max(x.ndim, 1) or x.ndim == 0:
            raise ValueError(f"vmap: in_dim={d} is out of range for a tensor with {x.ndim} "
                             "dims")
        sizes.add(x.shape[d])
    if not sizes:
        raise ValueError("vmap: at least one input must be mapped: in_dims are all None")
    if len(sizes) > 1:
        raise ValueError(f"vmap: Expected all tensors to have the same size in the mapped "
                         f"dimension, got sizes {sorted(sizes)} for the mapped dimension")
    return sizes.pop()


def _rng_state() -> Any:
    from chainrule.random import get_rng_state

    return get_rng_state()


def _same_state(a: Any, b: Any) -> bool:
    return repr(a) == repr(b)


def vmap(func: Callable, in_dims: Any = 0, out_dims: Any = 0, randomness: str = "error", *,
         chunk_size: int | None = None) -> Callable:
    """Map ``func`` over dimension ``in_dims`` of its inputs; stack the results on ``out_dims``.

    ``in_dims`` is an int (every positional argument mapped on that dim), ``None`` (not
    mapped) or a tuple with one entry per positional argument, each itself an int, ``None`` or
    a pytree matching that argument. Keyword arguments are never mapped.

    NOTE: implemented as a loop over the batch index (``func`` sees one slice at a time) and a
    ``stack`` of the outputs, so any ``func`` works, nesting included; ``chunk_size`` is
    accepted and changes nothing.
    """
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or "
                           f"'same'. Got {randomness}")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"vmap: chunk_size should be None or greater than 0, got {chunk_size}")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if isinstance(in_dims, (tuple, list)):
            if len(in_dims) != len(args):
                raise ValueError(f"vmap(f, in_dims={in_dims!r}, ...)(<inputs>): in_dims is not "
                                 f"compatible with the structure of inputs: {len(in_dims)} "
                                 f"entries for {len(args)} positional arguments")
            dims = _broadcast_prefix(tuple(in_dims), tuple(args), "in_dims")
        elif in_dims is None or isinstance(in_dims, int):
            dims = _broadcast_prefix(in_dims, tuple(args), "in_dims")
        else:
            raise ValueError(f"vmap: in_dims must be an int, None or a tuple, got {in_dims!r}")
        leaves, spec = _flatten(tuple(args))
        n = _batch_size(leaves, dims)
        start = _rng_state() if randomness != "different" else None
        outs = []
        for i in range(n):
            if randomness == "same":
                from chainrule.random import set_rng_state

                set_rng_state(start)
            sliced = [x if d is None else x.select(d, i) for x, d in zip(leaves, dims)]
            outs.append(func(*_unflatten(spec, iter(sliced)), **kwargs))
            if randomness == "error" and not _same_state(start, _rng_state()):
                raise RuntimeError("vmap: called random operation while in randomness error "
                                   "mode. Please either use the 'same' or 'different' "
                                   "randomness flags on vmap or perform the randomness "
                                   "operation out of vmap")
        return _stack_outputs(outs, out_dims)

    return wrapper


def _stack_outputs(outs: Sequence[Any], out_dims: Any) -> Any:
    flat0, spec = _flatten(outs[0])
    dims = _broadcast_prefix(out_dims, outs[0], "out_dims")
    columns: list[list[Any]] = [[] for _ in flat0]
    for o in outs:
        leaves, s = _flatten(o)
        if s != spec:
            raise RuntimeError("vmap: the function returned differently structured outputs "
                               "for different batch elements")
        for c, x in zip(columns, leaves):
            c.append(x)
    stacked = []
    for col, d in zip(columns, dims):
        if not isinstance(col[0], Tensor):
            raise ValueError(f"vmap: `{type(col[0]).__name__}` output: vmap can only return "
                             "tensors (or pytrees of tensors)")
        if d is None:
            stacked.append(col[0])  # PyTorch requires such outputs to be unmapped
            continue
        nd = col[0].ndim + 1
        if not -nd <= d < nd:
            raise ValueError(f"vmap: out_dim={d} is out of range for an output with "
                             f"{col[0].ndim} dims")
        stacked.append(stack(col, dim=d))
    return _unflatten(spec, iter(stacked))
