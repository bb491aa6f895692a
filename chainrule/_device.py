"""``chainrule.device`` (PyTorch's ``torch.device``): the name of where a tensor lives.

Only ``"cpu"`` exists for now; the class is here so that scripts calling ``.to(device)`` or
``torch.device("cpu")`` run unchanged.
"""

from __future__ import annotations


class device:
    """A device name. Only ``"cpu"`` exists for now, so scripts calling ``.to(device)`` run."""

    __slots__ = ("type", "index")

    def __init__(self, type: str | device = "cpu", index: int | None = None) -> None:
        if isinstance(type, device):
            type, index = type.type, type.index
        name = str(type)
        if ":" in name:
            name, idx = name.split(":", 1)
            index = int(idx)
        if name != "cpu":
            raise RuntimeError(
                f"device {type!r} is not available: chainrule runs on 'cpu' only "
                "(chainrule.cuda.is_available() is False)"
            )
        self.type = name
        self.index = index

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and other.type == self.type

    def __hash__(self) -> int:
        return hash(self.type)

    def __repr__(self) -> str:
        return f"device(type='{self.type}')"

    def __str__(self) -> str:
        return self.type

    def __enter__(self) -> device:
        """``with torch.device("cpu"):`` makes it the default device of new tensors; the CPU is
        the only one (and always the default), so there is nothing to switch."""
        return self

    def __exit__(self, *exc: object) -> None:
        return None


_CPU = device("cpu")
_Device = device  # (the methods' ``device=`` keyword shadows the class)
