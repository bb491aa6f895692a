"""Where the linear-algebra names of the top-level API live, loaded on first use so that
``import chainrule`` does not compile ``chainrule.linalg`` (≈ 20 ms where no bytecode is
cached, ≈ 2.5 ms where it is).

``FUNCTIONS`` maps a ``chainrule.<name>`` (``torch.det``, ``torch.addmm``,
``torch.searchsorted`` ...) to ``(module, attribute)``; :func:`install_tensor_methods` gives
the Tensor class the methods PyTorch has for them (``x.inverse()``, ``x.addmm(a, b)`` ...),
each importing its module on first call.
"""

from __future__ import annotations

import importlib
from typing import Any

_LINALG = "chainrule.linalg"
_PRODUCTS = "chainrule.products"

FUNCTIONS: dict[str, tuple[str, str]] = {
    **{n: (_LINALG, n) for n in ("chain_matmul", "cholesky_inverse", "cholesky_solve", "det",
                                 "inverse", "logdet", "matrix_exp", "matrix_power", "pinverse",
                                 "slogdet")},
    "cholesky": (_LINALG, "cholesky_legacy"),
    "qr": (_LINALG, "qr_legacy"), "svd": (_LINALG, "svd_legacy"),
    **{n: (_PRODUCTS, n) for n in ("addbmm", "addmm", "addmv", "addr", "baddbmm")},
    "bucketize": ("chainrule.searching", "bucketize"),
    "searchsorted": ("chainrule.searching", "searchsorted"),
}

# Tensor methods PyTorch has among them (torch.Tensor has no searchsorted/bucketize/chain_matmul)
_METHODS = ("inverse", "det", "logdet", "slogdet", "pinverse", "matrix_power", "matrix_exp",
            "cholesky", "cholesky_solve", "cholesky_inverse", "svd", "qr", "addmm",
            "addmv", "addr", "baddbmm", "addbmm")


# in-place Tensor methods (no torch.<name> function)
_IN_PLACE = {n + "_": (_PRODUCTS, n + "_") for n in ("addbmm", "addmm", "addmv", "addr",
                                                    "baddbmm")}


def load(name: str) -> Any:
    """The function ``chainrule.<name>`` (or in-place method ``name``), importing its module."""
    module, attr = FUNCTIONS[name] if name in FUNCTIONS else _IN_PLACE[name]
    return getattr(importlib.import_module(module), attr)


def _method(name: str) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return load(name)(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    module = (FUNCTIONS.get(name) or _IN_PLACE[name])[0]
    method.__doc__ = f"``{name}(self, ...)`` of ``{module}``."
    return method


def install_tensor_methods(tensor_cls: type) -> None:
    for name in (*_METHODS, *_IN_PLACE):
        if name not in vars(tensor_cls):  # a method the Tensor class defines itself wins
            setattr(tensor_cls, name, _method(name))
