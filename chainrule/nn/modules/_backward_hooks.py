"""Full backward hooks on modules: ``hook(module, grad_input, grad_output)``, PyTorch's semantics.

The autograd engine runs single-output nodes in reverse topological order, so a node runs only
once every consumer of its output has sent its gradient. The module's tensors are routed through
one *gate* node so that all their gradients are known at a single moment:

    forward:   x_1 .. x_n  ->  Gate (a 0-d dummy)  ->  Tap_i (returns x_i's array)  ->  y_i
    backward:  Tap_i stores g_i and sends a 0 to the gate;  the gate runs after every Tap_i,
               calls the hooks with (g_1 .. g_n), and returns their (possibly replaced) values
               as the gradients of x_1 .. x_n.

The same construction on the outputs collects ``grad_output`` (where backward pre hooks may
replace it) before the module's own backward runs. The gradients travel as Tensors, so hooks
work under ``create_graph=True`` too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.autograd.engine import Function, is_grad_enabled
from chainrule.backend import xp
from chainrule.tensor import Tensor, _wrap, apply


class _Gate(Function):
    """out = 0 (a 0-d dummy tying tensors together);  dx_i = the gradient its tap collected.

    The gate and its taps keep a Tensor ``backward`` rather than ``vjp(g, F)``: what they run
    is not a derivative but the user's hooks, whose contract is Tensors in and Tensors out in
    both passes, so the engine's wrapping of the array pass is exactly the conversion needed.
    """

    saves = ()

    def forward(self, *xs: Any, group: _Group | None = None) -> Any:
        self.group = group
        return xp.zeros((), dtype=xs[0].dtype)

    def backward(self, g: Tensor) -> tuple:
        return tuple(self.group.release())


class _Tap(Function):
    """out = tensor ``slot``'s array (identity);  backward stores g and sends 0 to the gate."""

    saves = ()

    def forward(self, gate: Any, arr: Any = None, group: _Group | None = None,
                slot: int = 0) -> Any:
        self.group, self.slot = group, slot
        return arr

    def backward(self, g: Tensor) -> tuple:
        self.group.store(self.slot, g)
        return (_wrap(xp.zeros((), dtype=self.inputs[0]._array.dtype)),)


class _Group:
    """Tensors routed through one gate; ``on_complete(grads) -> grads`` runs at the gate."""

    def __init__(self, n: int, on_complete: Callable[[list], list]) -> None:
        self.grads: list[Tensor | None] = [None] * n
        self.on_complete = on_complete

    def store(self, slot: int, g: Tensor) -> None:
        prev = self.grads[slot]
        self.grads[slot] = g if prev is None else prev + g

    def release(self) -> list[Tensor | None]:
        grads, self.grads = self.grads, [None] * len(self.grads)  # ready for another backward
        return self.on_complete(grads)

    def route(self, tensors: list[Tensor]) -> list[Tensor]:
        """Pass ``tensors`` (all requiring grad) through a gate; return their stand-ins."""
        gate = apply(_Gate, *tensors, group=self)
        out = []
        for slot, t in enumerate(tensors):
            y = apply(_Tap, gate, arr=t._array, group=self, slot=slot)
            y._base = t._base if t._base is not None else t  # same storage, same version counter
            out.append(y)
        return out


def _is_live(t: Any) -> bool:
    return isinstance(t, Tensor) and t.requires_grad


class BackwardHookState:
    """Wires a module call for its full backward (pre) hooks.

    ``setup_inputs(args)`` reroutes the positional tensor arguments that require grad,
    ``setup_outputs(out)`` reroutes the output tensors (a Tensor or a tuple/list of them).
    """

    def __init__(self, module: Any, hooks: list[Callable], pre_hooks: list[Callable]) -> None:
        self.module = module
        self.hooks = hooks
        self.pre_hooks = pre_hooks
        self.n_inputs = 0
        self.input_slots: list[int] = []
        self.grad_outputs: tuple | None = None

    # ---- forward wiring --------------------------------------------------------------------
    def setup_inputs(self, args: tuple) -> tuple:
        self.n_inputs = len(args)
        if not is_grad_enabled():
            return args
        self.input_slots = [i for i, a in enumerate(args) if _is_live(a)]
        if not self.input_slots:
            return args
        group = _Group(len(self.input_slots), self._on_grad_inputs)
        routed = group.route([args[i] for i in self.input_slots])
        new = list(args)
        for i, y in zip(self.input_slots, routed):
            new[i] = y
        return tuple(new)

    def setup_outputs(self, out: Any) -> Any:
        if not is_grad_enabled():
            return out
        seq = list(out) if isinstance(out, (tuple, list)) else [out]
        slots = [i for i, o in enumerate(seq) if _is_live(o)]
        if not slots:
            return out
        self.n_outputs = len(seq)
        self.output_slots = slots
        group = _Group(len(slots), self._on_grad_outputs)
        for i, y in zip(slots, group.route([seq[i] for i in slots])):
            seq[i] = y
        if isinstance(out, (tuple, list)):
            return type(out)(seq)
        return seq[0]

    # ---- backward callbacks ----------------------------------------------------------------
    def _on_grad_outputs(self, grads: list) -> list:
        full: list = [None] * self.n_outputs
        for i, g in zip(self.output_slots, grads):
            full[i] = g
        grad_output = tuple(full)
        for hook in self.pre_hooks:
            res = hook(self.module, grad_output)
            if res is None:
                continue
            res = res if isinstance(res, tuple) else (res,)
            if len(res) != len(grad_output):
                raise RuntimeError(
                    f"Backward pre hook of {type(self.module).__name__} returned an invalid "
                    f"number of grad_output, got {len(res)}, but expected {len(grad_output)}"
                )
            grad_output = res
        self.grad_outputs = grad_output
        if not self.input_slots:
            self._call_without_inputs()
        return [grad_output[i] for i in self.output_slots]

    def _call_without_inputs(self) -> None:
        """No input needs a gradient: the hooks still run, with ``grad_input`` all None."""
        grad_input = (None,) * self.n_inputs
        for hook in self.hooks:
            res = hook(self.module, grad_input, self.grad_outputs)
            if res is not None and not (isinstance(res, tuple) and all(r is None for r in res)):
                raise RuntimeError(
                    f"Backward hook of {type(self.module).__name__}: for a module where no input "
                    "requires gradient the hook must return None or None for all gradients"
                )

    def _on_grad_inputs(self, grads: list) -> list:
        full: list = [None] * self.n_inputs
        for i, g in zip(self.input_slots, grads):
            full[i] = g
        grad_input = tuple(full)
        grad_output = self.grad_outputs if self.grad_outputs is not None else ()
        for hook in self.hooks:
            res = hook(self.module, grad_input, grad_output)
            if res is None:
                continue
            res = res if isinstance(res, tuple) else (res,)
            if len(res) != len(grad_input):
                raise RuntimeError(
                    f"Backward hook of {type(self.module).__name__} returned an invalid number "
                    f"of grad_input, got {len(res)}, but expected {len(grad_input)}"
                )
            grad_input = res
        self.grad_outputs = None
        return [self._checked(grad_input[i], i) for i in self.input_slots]

    def _checked(self, g: Any, i: int) -> Tensor | None:
        if g is None:
            return None
        if not isinstance(g, Tensor):
            raise TypeError(
                f"Backward hook of {type(self.module).__name__} returned a "
                f"{type(g).__name__} as grad_input[{i}] (a Tensor or None expected)"
            )
        return g
