"""``torch._dynamo``: the few names training scripts touch (``config.suppress_errors``,
``reset``, ``disable``, ``is_compiling``). chainrule has no TorchDynamo; settings are kept on
``config`` and otherwise unused."""

from __future__ import annotations

import types

from chainrule.compiler import allow_in_graph, disable, is_compiling, reset

__all__ = ["config", "reset", "disable", "is_compiling", "allow_in_graph"]

# settable like PyTorch's config module (suppress_errors, cache_size_limit, verbose, ...)
config = types.SimpleNamespace(suppress_errors=False, cache_size_limit=8, verbose=False,
                               capture_scalar_outputs=False, optimize_ddp=True,
                               automatic_dynamic_shapes=True)
