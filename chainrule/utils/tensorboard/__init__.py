"""``chainrule.utils.tensorboard.SummaryWriter``: PyTorch's TensorBoard writer, on tensorboardX.

PyTorch's ``torch.utils.tensorboard`` writes TensorBoard event files through the
``tensorboard`` package; chainrule's writes the same event files through ``tensorboardX``
(the ``tb`` extra: ``pip install 'chainrule[tb]'``), whose ``SummaryWriter`` has PyTorch's
method names and arguments. This class is tensorboardX's writer with every chainrule Tensor
argument turned into a NumPy array first, so ``writer.add_scalar("loss", loss, step)``,
``add_histogram("w", p, step)``, ``add_image``, ``add_embedding``, ``add_hparams`` ... run
unchanged and ``tensorboard --logdir runs`` reads the result.

Differences: ``add_graph(model, input)`` raises ``NotImplementedError`` (it needs a TorchScript
trace, which chainrule has not: export the model with ``chainrule.onnx.export`` and use
``add_onnx_graph`` instead); ``log_dir=None`` picks ``runs/<date>_<host><comment>`` as
tensorboardX (and PyTorch) do.

Example::

    from chainrule.utils.tensorboard import SummaryWriter
    with SummaryWriter("runs/exp1") as writer:
        writer.add_scalar("loss", loss.item(), step)
"""

from __future__ import annotations

import functools
from typing import Any

try:
    from tensorboardX import SummaryWriter as _TBXWriter
except ImportError as _e:  # pragma: no cover - depends on the extra
    raise ImportError("chainrule.utils.tensorboard needs the 'tb' extra (tensorboardX): "
                      "pip install 'chainrule[tb]'") from _e

__all__ = ["SummaryWriter"]


def _to_numpy(x: Any) -> Any:
    """Tensors (also inside lists, tuples and dict values) as NumPy arrays."""
    from chainrule.tensor import Tensor

    if isinstance(x, Tensor):
        return x.detach().numpy()
    if isinstance(x, dict):
        return {k: _to_numpy(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_to_numpy(v) for v in x)
    return x


def _converting(name: str) -> Any:
    base = getattr(_TBXWriter, name)

    @functools.wraps(base)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return base(self, *_to_numpy(args), **_to_numpy(kwargs))

    return method


class SummaryWriter(_TBXWriter):
    """tensorboardX's ``SummaryWriter`` accepting chainrule Tensors (module docstring).
    ``SummaryWriter(log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120,
    filename_suffix="")``, PyTorch's signature."""

    def __init__(self, log_dir: str | None = None, comment: str = "",
                 purge_step: int | None = None, max_queue: int = 10, flush_secs: int = 120,
                 filename_suffix: str = "") -> None:
        super().__init__(logdir=log_dir, comment=comment, purge_step=purge_step,
                         max_queue=max_queue, flush_secs=flush_secs,
                         filename_suffix=filename_suffix)

    def get_logdir(self) -> str:
        """The directory the event files go to (PyTorch's name)."""
        return self.logdir

    def add_graph(self, model: Any, input_to_model: Any = None, verbose: bool = False,
                  use_strict_trace: bool = True) -> None:
        raise NotImplementedError(
            "SummaryWriter.add_graph needs a TorchScript trace, which chainrule does not have; "
            "export the model with chainrule.onnx.export(model, args, 'model.onnx') and call "
            "writer.add_onnx_graph('model.onnx')")


for _name in ("add_scalar", "add_scalars", "add_histogram", "add_image", "add_images",
              "add_image_with_boxes", "add_figure", "add_video", "add_audio", "add_text",
              "add_embedding", "add_pr_curve", "add_mesh", "add_hparams"):
    setattr(SummaryWriter, _name, _converting(_name))
del _name
