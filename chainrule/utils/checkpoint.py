"""Activation checkpointing (``torch.utils.checkpoint``): trade compute for memory.

``checkpoint(fn, *args, use_reentrant=..., preserve_rng_state=True, **kwargs)`` runs ``fn``
under ``no_grad``, so none of its intermediate activations are kept: the graph holds one node
whose saved state is the inputs. When the backward pass reaches that node, ``fn`` is run again
with recording on (the recompute) and the incoming gradient is pushed through the recomputed
graph. Every generator ``fn`` draws from (``chainrule.random.default_generator`` and each
Dropout layer's own generator) is captured at its first draw in the forward and restored for
the recompute, then put back, so dropout masks are the same in both runs and the generators'
later draws are unaffected. The gradients therefore equal those of the plain run.

Which tensors get gradients:

- tensors passed as arguments (positional or keyword) through the node, as in PyTorch;
- parameters of the Module(s) ``fn`` is, is a method of, or holds in its closure /
  ``functools.partial``: with ``use_reentrant=False`` they are inputs of the node too, so
  ``autograd.grad(loss, params)`` works and the output requires grad because of them, as in
  PyTorch's non-reentrant variant;
- any other tensor that requires grad and that the recompute reaches (a closure variable, a
  parameter with ``use_reentrant=True``): its gradient is pushed on by a nested backward from
  inside the node's backward, which accumulates into ``.grad`` — PyTorch's reentrant
  behaviour. ``autograd.grad`` with respect to such a tensor does not see that gradient (in
  PyTorch the reentrant variant refuses ``autograd.grad`` altogether).

Differences from PyTorch: with ``use_reentrant=True`` an output requires grad only when an
argument does (as PyTorch, which warns; so does chainrule); PyTorch's ``context_fn``,
``determinism_check`` and ``debug`` are accepted and not used beyond a check that the recompute
gives outputs of the same shapes; ``create_graph=True`` through a checkpoint is not supported.
Modules whose forward changes state (BatchNorm running statistics) update it twice, as in
PyTorch.

Example::

    from chainrule.utils.checkpoint import checkpoint
    h = checkpoint(self.block, x, use_reentrant=False)   # block's activations are recomputed
"""

from __future__ import annotations

import copy
import functools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import random as _random
from chainrule.autograd.function import Function, next_seq
from chainrule.autograd.user_function import FunctionCtx

__all__ = ["checkpoint", "checkpoint_sequential"]


def _tensor_cls() -> type:
    from chainrule.tensor import Tensor

    return Tensor


# ---- generator states ---------------------------------------------------------------------
class _RNGRecorder:
    """Records, at its first draw inside a forward, the state of every generator used."""

    def __init__(self) -> None:
        self.states: list[tuple[Any, Any]] = []  # (generator object, state before its 1st draw)
        self._seen: set[int] = set()

    def hook(self, prev: Any) -> Callable:
        def record(generator: Any, real: np.random.Generator) -> Any:
            owner = _random.default_generator if generator is None else generator
            if id(owner) not in self._seen:
                self._seen.add(id(owner))
                self.states.append((owner, _get_state(owner)))
            return real if prev is None else prev(generator, real)

        return record


def _get_state(g: Any) -> Any:
    if isinstance(g, np.random.Generator):
        return copy.deepcopy(g.bit_generator.state)
    return g.get_state()


def _set_state(g: Any, state: Any) -> None:
    if isinstance(g, np.random.Generator):
        g.bit_generator.state = copy.deepcopy(state)
    else:
        g.set_state(state)


# ---- finding the parameters a function uses -----------------------------------------------
def _params_of(obj: Any, depth: int = 0, seen: set[int] | None = None) -> list[Any]:
    """Leaf tensors requiring grad that ``obj`` evidently uses: a Module's parameters, and
    what a bound method's ``__self__``, a ``functools.partial`` or a closure holds."""
    from chainrule.nn.modules.module import Module

    T = _tensor_cls()
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 3:
        return []
    seen.add(id(obj))
    if isinstance(obj, Module):
        return [p for p in obj.parameters() if p.requires_grad]
    if isinstance(obj, T):
        return [obj] if obj.requires_grad and obj.grad_fn is None else []
    found: list[Any] = []
    if isinstance(obj, functools.partial):
        for x in (obj.func, *obj.args, *obj.keywords.values()):
            found += _params_of(x, depth + 1, seen)
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            found += _params_of(x, depth + 1, seen)
    elif hasattr(obj, "__self__") and callable(obj):
        found += _params_of(obj.__self__, depth + 1, seen)
    elif callable(obj) and getattr(obj, "__closure__", None):
        for cell in obj.__closure__:
            contents = cell.cell_contents if _filled(cell) else None
            found += _params_of(contents, depth + 1, seen)
    return found


def _filled(cell: Any) -> bool:
    """Whether a closure cell holds a value (reading an empty one raises ValueError)."""
    try:
        cell.cell_contents  # noqa: B018 - the read is the test
    except ValueError:
        return False
    return True


# ---- the node -----------------------------------------------------------------------------
class _Run:
    """What the checkpoint node keeps: the function, the call's structure, generator states."""

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, n_params: int,
                 preserve_rng_state: bool) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.n_params = n_params
        self.preserve = preserve_rng_state
        self.rng_states: list[tuple[Any, Any]] = []
        self.shapes: list[Any] = []

    def call(self, tensors: tuple) -> Any:
        """``fn`` on the call's arguments with its tensor arguments replaced by ``tensors``."""
        T = _tensor_cls()
        it = iter(tensors)
        args = tuple(next(it) if isinstance(a, T) else a for a in self.args)
        kwargs = {k: next(it) if isinstance(v, T) else v for k, v in self.kwargs.items()}
        return self.fn(*args, **kwargs)


class _Checkpoint(Function):
    """The node of one checkpointed call: inputs are the tensor arguments, then (non-reentrant)
    the parameters found in ``fn``; backward recomputes ``fn`` and differentiates it."""

    @staticmethod
    def forward(ctx: FunctionCtx, run: _Run, *tensors: Any) -> Any:
        ctx.run = run
        ctx.save_for_backward(*tensors)  # (an in-place change before backward is an error)
        n_args = len(tensors) - run.n_params
        prev = _random._rng_hook
        recorder = _RNGRecorder()
        if run.preserve:
            _random._rng_hook = recorder.hook(prev)
        try:
            out = run.call(tensors[:n_args])
        finally:
            _random._rng_hook = prev
        run.rng_states = recorder.states
        outs = out if isinstance(out, tuple) else (out,)
        run.shapes = [tuple(o.shape) if isinstance(o, _tensor_cls()) else None for o in outs]
        return out

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> tuple:
        from chainrule.autograd import grad as autograd_grad
        from chainrule.autograd.engine import enable_grad, is_grad_enabled, run_backward

        if is_grad_enabled():  # the engine records the backward only under create_graph=True
            raise RuntimeError("chainrule.utils.checkpoint does not support a gradient of a "
                               "gradient (create_graph=True) through a checkpoint; call the "
                               "function without checkpoint for higher-order derivatives")
        run: _Run = ctx.run
        saved = ctx.saved_tensors
        n_args = len(saved) - run.n_params
        params = saved[n_args:]
        inputs = [t.detach().requires_grad_(t.requires_grad) for t in saved[:n_args]]
        outs, first_seq = _recompute(run, inputs)
        pairs = [(o, g) for o, g in zip(outs, grads)
                 if isinstance(o, _tensor_cls()) and o.requires_grad and g is not None]
        if not pairs:
            return (None,) * (1 + len(saved))
        wanted = [t for t in inputs if t.requires_grad] + list(params)
        external = _external_tensors([o for o, _ in pairs], first_seq, wanted)
        with enable_grad():
            # retain when the graph reaches outside the recompute: the engine would free the
            # outer nodes it walks through, which the outer backward still needs
            res = autograd_grad([o for o, _ in pairs], wanted + external,
                                [g for _, g in pairs], retain_graph=bool(external),
                                allow_unused=True)
        res = list(res)
        ext_grads = res[len(wanted):]
        push = [(t, g) for t, g in zip(external, ext_grads) if g is not None]
        if push:  # reentrant part: continue into the rest of the graph from inside backward
            run_backward([t for t, _ in push], [g for _, g in push], retain_graph=True,
                         create_graph=False)
        it = iter(res[:len(wanted)])
        arg_grads = [next(it) if t.requires_grad else None for t in inputs]
        return (None, *arg_grads, *list(it))


def _recompute(run: _Run, inputs: list) -> tuple[tuple, int]:
    """Run ``fn`` again with recording on and the generators as they were in the forward;
    afterwards the generators are put back where they were."""
    from chainrule.autograd.engine import enable_grad

    now = [(g, _get_state(g)) for g, _ in run.rng_states]
    for g, state in run.rng_states:
        _set_state(g, state)
    first_seq = next_seq()
    try:
        with enable_grad():
            out = run.call(tuple(inputs))
    finally:
        for g, state in now:
            _set_state(g, state)
    outs = out if isinstance(out, tuple) else (out,)
    shapes = [tuple(o.shape) if isinstance(o, _tensor_cls()) else None for o in outs]
    if shapes != run.shapes:
        raise RuntimeError("torch.utils.checkpoint: recomputed outputs differ from the forward "
                           f"pass (shapes {shapes} instead of {run.shapes}); the checkpointed "
                           "function must be deterministic in its output shapes")
    return outs, first_seq


def _external_tensors(outs: list, first_seq: int, known: list) -> list:
    """Tensors requiring grad that the recomputed graph reads but that were not made by the
    recompute (closure leaves, tensors of the outer graph), other than ``known``."""
    known_ids = {id(t) for t in known}
    seen_nodes: set[int] = set()
    found: dict[int, Any] = {}
    stack = [o.grad_fn for o in outs if o.grad_fn is not None]
    T = _tensor_cls()
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        for a in getattr(node, "inputs", ()) or ():
            if not isinstance(a, T) or not a.requires_grad or id(a) in known_ids:
                continue
            if a.grad_fn is None or a.grad_fn.seq < first_seq:
                found.setdefault(id(a), a)
            else:
                stack.append(a.grad_fn)
    return list(found.values())


# ---- public API -----------------------------------------------------------------------------
def _reentrant(use_reentrant: bool | None) -> bool:
    if use_reentrant is None:
        warnings.warn("chainrule.utils.checkpoint: the use_reentrant parameter should be "
                      "passed explicitly (PyTorch warns the same); use_reentrant=False is "
                      "recommended. Using use_reentrant=True, PyTorch's default.",
                      UserWarning, stacklevel=3)
        return True
    return bool(use_reentrant)


def checkpoint(function: Callable, *args: Any, use_reentrant: bool | None = None,
               context_fn: Callable | None = None, determinism_check: str = "default",
               debug: bool = False, preserve_rng_state: bool = True, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` without keeping its activations: they are recomputed in
    backward (module docstring). Gradients equal those of ``function(*args, **kwargs)``."""
    del context_fn, determinism_check, debug
    return _checkpoint(function, args, kwargs, _reentrant(use_reentrant), preserve_rng_state)


def _checkpoint(function: Callable, args: tuple, kwargs: dict, reentrant: bool,
                preserve_rng_state: bool, params: list | None = None) -> Any:
    from chainrule.autograd.engine import is_grad_enabled

    T = _tensor_cls()
    if reentrant and kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    tensors = [a for a in args if isinstance(a, T)] + [v for v in kwargs.values()
                                                       if isinstance(v, T)]
    if not is_grad_enabled():  # nothing to recompute for: run it plainly
        return function(*args, **kwargs)
    if reentrant:
        params = []
        if not any(t.requires_grad for t in tensors):
            warnings.warn("None of the inputs have requires_grad=True. Gradients will be None",
                          UserWarning, stacklevel=3)
    elif params is None:
        params = _params_of(function)
    ids = {id(t) for t in tensors}
    params = [p for p in dict.fromkeys(params) if id(p) not in ids]
    run = _Run(function, args, kwargs, len(params), preserve_rng_state)
    return _Checkpoint.apply(run, *tensors, *params)


def checkpoint_sequential(functions: Any, segments: int, input: Any,
                          use_reentrant: bool | None = None, **kwargs: Any) -> Any:
    """Split ``functions`` (an ``nn.Sequential`` or a list of modules/functions) into
    ``segments`` chunks of ``len // segments`` and checkpoint all chunks but the last, which
    runs normally (its activations are needed at once), as PyTorch."""
    from chainrule.nn.modules.module import Module

    reentrant = _reentrant(use_reentrant)
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    fns = list(functions.children()) if isinstance(functions, Module) else list(functions)
    if segments < 1:
        raise ValueError(f"segments must be >= 1, got {segments}")
    size = len(fns) // segments

    def run(chunk: list) -> Callable:
        def forward(x: Any) -> Any:
            for f in chunk:
                x = f(x)
            return x

        return forward

    end = 0
    for start in range(0, size * (segments - 1), size):
        end = start + size
        chunk = fns[start:end]
        input = _checkpoint(run(chunk), (input,), {}, reentrant, preserve,
                            None if reentrant else _params_of(chunk))
    return run(fns[end:])(input)
