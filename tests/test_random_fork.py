"""``chainrule.random.fork_rng`` against ``torch.random.fork_rng``: draws inside the block
leave the default generator's later sequence unchanged; ``enabled=False`` does not."""

import numpy as np
import pytest
import torch

import chainrule


@pytest.mark.parametrize("enabled", [True, False])
def test_fork_rng_restores_the_default_generator_as_torch(enabled: bool) -> None:
    after = {}
    for lib in (chainrule, torch):
        lib.manual_seed(3)
        lib.rand(2)
        with lib.random.fork_rng(enabled=enabled):
            lib.rand(7)
        after[lib.__name__] = lib.rand(3).numpy()
        lib.manual_seed(3)
        lib.rand(2)
        undisturbed = lib.rand(3).numpy()
        assert np.array_equal(after[lib.__name__], undisturbed) == enabled


def test_fork_rng_restores_after_an_exception() -> None:
    chainrule.manual_seed(5)
    expected = chainrule.rand(4).numpy()
    chainrule.manual_seed(5)
    with pytest.raises(KeyError), chainrule.random.fork_rng():
        chainrule.rand(9)
        raise KeyError("inside")
    assert np.array_equal(chainrule.rand(4).numpy(), expected)


def test_fork_rng_names_an_unavailable_device_type() -> None:
    with pytest.raises(ValueError, match="device_type 'mps'"), \
            chainrule.random.fork_rng(device_type="mps"):
        pass
