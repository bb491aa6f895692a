"""``chainrule.jit``: PyTorch's TorchScript entry points, for programs that call them.

chainrule has no TorchScript: there is no graph IR to compile a Python function into, and no
serialised program format. What a program gets instead:

- ``script(obj)`` returns ``obj`` itself (a function, a Module or a class); calling it runs the
  Python code, which is what TorchScript's result computes.
- ``trace(func, example_inputs)`` runs ``func`` once on the example (so a function that cannot
  run on it fails here, as in PyTorch) and returns ``func`` itself. Unlike a PyTorch trace, the
  result is not frozen to the example's control flow: later calls take the branches their own
  inputs select (a PyTorch trace would replay the example's branches).
- ``is_scripting()`` and ``is_tracing()`` are always False (code is never being scripted or
  traced), so ``if not torch.jit.is_scripting():`` branches take their Python path.
- ``ignore``, ``unused``, ``export``, ``script_method``: decorators that return the function
  unchanged; ``annotate(type, value)`` returns ``value``; ``Final`` is ``typing.Final``;
  ``fork(fn, *args)`` runs ``fn`` at once and ``wait`` returns its result; ``freeze`` and
  ``optimize_for_inference`` return the module (``freeze`` insists on ``eval()`` as PyTorch).
- ``save`` / ``load`` raise ``NotImplementedError``: there is no TorchScript archive. Save the
  weights with ``chainrule.save(model.state_dict(), path)`` (safetensors) and rebuild the model
  from its class, or export with ``chainrule.onnx.export``.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

__all__ = [
    "Final", "ScriptFunction", "ScriptModule", "annotate", "export", "fork", "freeze",
    "ignore", "is_scripting", "is_tracing", "load", "optimize_for_inference", "save", "script",
    "script_method", "trace", "trace_module", "unused", "wait",
]

Final = typing.Final


class ScriptModule:
    """No object is a ScriptModule in chainrule (``script`` returns the module itself); the
    class exists so ``isinstance(m, torch.jit.ScriptModule)`` checks run (and are False)."""


class ScriptFunction:
    """As :class:`ScriptModule`, for scripted functions: nothing is an instance."""


def script(obj: Any, optimize: Any = None, _frames_up: int = 0, _rcb: Any = None,
           example_inputs: Any = None) -> Any:
    """``obj`` itself: chainrule runs Python code, there is no TorchScript compiler."""
    del optimize, _frames_up, _rcb, example_inputs
    return obj


def _run_example(func: Callable, example_inputs: Any, example_kwarg_inputs: Any) -> None:
    from chainrule.tensor import Tensor

    if example_kwarg_inputs is not None:
        if not isinstance(example_kwarg_inputs, dict):
            raise RuntimeError("example_kwarg_inputs should be a dict")
        func(**example_kwarg_inputs)
        return
    if example_inputs is None:
        raise RuntimeError("trace() needs example_inputs (a Tensor or a tuple of arguments) "
                           "or example_kwarg_inputs")
    args = (example_inputs,) if isinstance(example_inputs, Tensor) else tuple(example_inputs)
    func(*args)


def trace(func: Callable, example_inputs: Any = None, optimize: Any = None,
          check_trace: bool = True, check_inputs: Any = None, check_tolerance: float = 1e-5,
          strict: bool = True, _force_outplace: bool = False, _module_class: Any = None,
          _compilation_unit: Any = None, example_kwarg_inputs: Any = None,
          _store_inputs: bool = True) -> Callable:
    """Run ``func`` once on ``example_inputs`` (a Tensor or a tuple of arguments) and return
    ``func`` itself (see the module docstring for how this differs from a PyTorch trace)."""
    del optimize, check_trace, check_inputs, check_tolerance, strict, _force_outplace
    del _module_class, _compilation_unit, _store_inputs
    if not callable(func):
        raise TypeError(f"trace() expects a function or a Module, got {type(func).__name__}")
    _run_example(func, example_inputs, example_kwarg_inputs)
    return func


def trace_module(mod: Any, inputs: dict[str, Any], **kwargs: Any) -> Any:
    """Run each ``mod.<method>(*example)`` of ``inputs`` once and return ``mod``."""
    for method, example in inputs.items():
        _run_example(getattr(mod, method), example, None)
    return mod


def is_scripting() -> bool:
    """False: chainrule never scripts code."""
    return False


def is_tracing() -> bool:
    """False: chainrule never traces code (``trace`` runs it as Python)."""
    return False


def _passthrough_decorator(doc: str) -> Callable:
    def decorator(fn: Any = None, **kwargs: Any) -> Any:
        if fn is None or not callable(fn):  # used with arguments: @ignore(drop=True)
            return lambda f: f
        return fn

    decorator.__doc__ = doc
    return decorator


ignore = _passthrough_decorator("``@ignore`` / ``@ignore(drop=True)``: the function unchanged "
                                "(nothing is compiled, so nothing is left to Python).")
unused = _passthrough_decorator("``@unused``: the function unchanged.")
export = _passthrough_decorator("``@export``: the method unchanged.")
script_method = _passthrough_decorator("``@script_method``: the method unchanged.")
interface = _passthrough_decorator("``@interface``: the class unchanged.")


def annotate(the_type: Any, the_value: Any) -> Any:
    """``the_value`` (TorchScript's type hint for an expression; Python needs none)."""
    return the_value


class Future:
    """What :func:`fork` returns: the already computed result."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def wait(self) -> Any:
        return self._value

    def done(self) -> bool:
        return True


def fork(func: Callable, *args: Any, **kwargs: Any) -> Future:
    """Run ``func(*args, **kwargs)`` now (PyTorch runs it asynchronously in TorchScript, and
    synchronously in eager mode, as here)."""
    return Future(func(*args, **kwargs))


def wait(future: Future) -> Any:
    return future.wait()


def freeze(mod: Any, preserved_attrs: Any = None, optimize_numerics: bool = True) -> Any:
    """``mod`` itself; refuses a module in training mode, as PyTorch."""
    if getattr(mod, "training", False):
        raise RuntimeError("Freezing is currently only implemented for modules in eval mode. "
                           "Please call .eval() on your module before freezing.")
    return mod


def optimize_for_inference(mod: Any, other_methods: Any = None) -> Any:
    """``mod`` itself (no graph to optimise); PyTorch also freezes, so ``eval()`` is needed."""
    return freeze(mod)


def _no_archive(what: str) -> NotImplementedError:
    return NotImplementedError(
        f"chainrule.jit.{what}: chainrule has no TorchScript, so there is no TorchScript "
        "archive to write or read. Save the weights with chainrule.save(model.state_dict(), "
        "path) and load them into the model built from its class with "
        "model.load_state_dict(chainrule.load(path)); or export with chainrule.onnx.export.")


def save(m: Any, f: Any, _extra_files: Any = None) -> None:
    """Raises ``NotImplementedError`` (see the module docstring)."""
    raise _no_archive("save")


def load(f: Any, map_location: Any = None, _extra_files: Any = None) -> Any:
    """Raises ``NotImplementedError`` (see the module docstring)."""
    raise _no_archive("load")
