"""Random number generation with explicit generators (no hidden NumPy global state).

``chainrule.Generator`` wraps a ``numpy.random.Generator`` (PCG64). Every random function takes
``generator=``; without it the module's ``default_generator`` is used, which
``chainrule.manual_seed`` reseeds. Generator states are JSON-serialisable dicts, so trainer
checkpoints can store and restore them exactly.
"""

from __future__ import annotations

import contextlib
import copy
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

import numpy as np


class Generator:
    """A seedable random source (PyTorch's ``torch.Generator``).

    Example::

        g = chainrule.Generator().manual_seed(0)
        x = chainrule.randn(3, generator=g)
    """

    def __init__(self, device: Any = "cpu", seed: int | None = None) -> None:
        self._seed = 67280421310721 if seed is None else int(seed)
        self.rng = np.random.Generator(np.random.PCG64(self._seed))

    def manual_seed(self, seed: int) -> Generator:
        """Reseed in place and return self (as PyTorch does)."""
        self._seed = int(seed)
        self.rng = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def seed(self) -> int:
        """Reseed from OS entropy and return the new seed."""
        s = int(np.random.SeedSequence().entropy % (2**63))
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict[str, Any]:
        """The full state as a JSON-serialisable dict."""
        return {"seed": self._seed, "bit_generator": copy.deepcopy(self.rng.bit_generator.state)}

    def set_state(self, state: dict[str, Any]) -> Generator:
        """Restore a state given by ``get_state``."""
        self._seed = int(state.get("seed", self._seed))
        bg = np.random.PCG64()
        bg.state = copy.deepcopy(state["bit_generator"])
        self.rng = np.random.Generator(bg)
        return self

    def spawn(self) -> Generator:
        """A new independent generator derived from this one (for workers, dropout layers)."""
        g = Generator()
        g.rng = np.random.Generator(np.random.PCG64(self.rng.integers(0, 2**63)))
        return g


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator; returns it."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator from OS entropy; returns the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> dict[str, Any]:
    """State of the default generator (a dict; PyTorch returns a ByteTensor)."""
    return default_generator.get_state()


def set_rng_state(state: dict[str, Any]) -> None:
    default_generator.set_state(state)


@contextlib.contextmanager
def fork_rng(devices: Any = None, enabled: bool = True, _caller: str = "fork_rng",
             _devices_kw: str = "devices", device_type: str = "cpu") -> Iterator[None]:
    """``torch.random.fork_rng``: the default generator's state is saved on entry and restored
    on exit, so draws inside the block do not change the sequence drawn after it. ``devices``
    and ``device_type`` name accelerators, of which chainrule has none (accepted, as torch
    accepts an empty device list); ``enabled=False`` makes the block a no-op."""
    if device_type not in ("cpu", "cuda"):
        raise ValueError(f"{_caller}: device_type {device_type!r} is not available "
                         "(chainrule runs on the CPU only)")
    if not enabled:
        yield
        return
    state = default_generator.get_state()
    try:
        yield
    finally:
        default_generator.set_state(state)


class _HookState(threading.local):
    """The draw hook of this thread (see ``_rng_hook`` below)."""

    hook: Any = None


_hook_state = _HookState()


class _RandomModule(types.ModuleType):
    """This module's class: ``_rng_hook`` is per thread. chainrule.compile (while it captures
    a step) and activation checkpointing (while it records dropout masks) set it to wrap the
    generator so that its draws are recorded; a module-wide value would also record, and
    replay, the draws of every other thread running meanwhile."""

    @property
    def _rng_hook(self) -> Any:
        return _hook_state.hook

    @_rng_hook.setter
    def _rng_hook(self, value: Any) -> None:
        _hook_state.hook = value


sys.modules[__name__].__class__ = _RandomModule


def rng(generator: Generator | np.random.Generator | None) -> np.random.Generator:
    """The NumPy generator behind ``generator`` (or the default one); a NumPy generator passes."""
    if isinstance(generator, np.random.Generator):
        r = generator
    else:
        r = (generator or default_generator).rng
    hook = _hook_state.hook
    return r if hook is None else hook(generator, r)
