"""``torch.backends.cuda``: no CUDA back end; the precision switches keep what is assigned."""

from __future__ import annotations


class _MatmulFlags:
    """``torch.backends.cuda.matmul``: TF32 / reduced-precision switches (no effect: NumPy's
    GEMMs run in the tensors' own dtype)."""

    allow_tf32 = False
    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True


matmul = _MatmulFlags()


def is_built() -> bool:
    return False


def _sdp_switch() -> tuple:
    """A ``enable_<name>_sdp(bool)`` / ``<name>_sdp_enabled()`` pair: chainrule has one math
    implementation of scaled-dot-product attention, so the switches are recorded only."""
    state = {"on": True}

    def enable(enabled: bool) -> None:
        state["on"] = bool(enabled)

    def enabled() -> bool:
        return state["on"]

    return enable, enabled


enable_flash_sdp, flash_sdp_enabled = _sdp_switch()
enable_mem_efficient_sdp, mem_efficient_sdp_enabled = _sdp_switch()
enable_math_sdp, math_sdp_enabled = _sdp_switch()
