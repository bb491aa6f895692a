"""chainrule.accelerator answers as torch.accelerator does on a machine with no accelerator
(torch 2.13 CPU is exactly such a machine, so it is the reference)."""

from __future__ import annotations

import pytest
import torch

import chainrule as cr


def test_queries_match_torch():
    assert cr.accelerator.is_available() is torch.accelerator.is_available() is False
    assert cr.accelerator.current_accelerator() is torch.accelerator.current_accelerator()
    assert cr.accelerator.device_count() == torch.accelerator.device_count() == 0
    assert cr.cuda.is_available() is False


def test_examples_idiom_picks_cpu():
    use_accel = cr.accelerator.is_available()
    device = cr.accelerator.current_accelerator() if use_accel else cr.device("cpu")
    assert str(cr.zeros(2).to(device).device) == "cpu"


@pytest.mark.parametrize("name", ["current_device_index", "synchronize", "empty_cache",
                                  "memory_allocated", "max_memory_allocated",
                                  "reset_peak_memory_stats", "current_stream"])
def test_device_calls_raise_like_torch(name):
    with pytest.raises(RuntimeError) as theirs:
        getattr(torch.accelerator, name)()
    with pytest.raises(RuntimeError) as ours:
        getattr(cr.accelerator, name)()
    assert str(ours.value) == str(theirs.value)


def test_device_index_and_set_device_index():
    with cr.accelerator.device_index(None), torch.accelerator.device_index(None):
        pass
    for lib in (torch, cr):
        with pytest.raises(RuntimeError), lib.accelerator.device_index(0):
            pass
        with pytest.raises(RuntimeError):
            lib.accelerator.set_device_index(0)
        with pytest.raises(ValueError):
            lib.accelerator.set_device_index(None)
