"""``device`` is a name; ``data_device`` is the one check that a ``device=`` argument of
something holding data names the CPU (chainrule has no meta storage)."""
import pytest

import chainrule as cr
from chainrule._device import data_device


def test_meta_is_a_name_wherever_it_is_written() -> None:
    # The check must not depend on which module calls device(): code in a package named
    # chainrule.* (a plugin, a vendored example) may still name the meta device.
    namespace = {"__name__": "chainrule.user_plugin", "cr": cr}
    exec("d = cr.device('meta')", namespace)  # noqa: S102 - the caller's module name matters
    assert namespace["d"].type == "meta"
    assert str(cr.device("meta")) == "meta"


@pytest.mark.parametrize("name", ["meta", cr.device("meta"), "cuda", "cuda:0", "mps"])
def test_data_device_refuses_what_has_no_storage(name: object) -> None:
    with pytest.raises(RuntimeError, match="is not available: chainrule runs on 'cpu' only"):
        data_device(name)


@pytest.mark.parametrize("make", [
    lambda d: cr.zeros(2, device=d), lambda d: cr.tensor([1.0], device=d),
    lambda d: cr.ones(2).to(d), lambda d: cr.nn.Linear(2, 3, device=d),
    lambda d: cr.nn.Conv2d(1, 2, 3, device=d), lambda d: cr.nn.LayerNorm(3, device=d),
])
@pytest.mark.parametrize("name", ["meta", cr.device("meta")])
def test_data_on_meta_is_refused_not_silently_cpu(make, name) -> None:
    with pytest.raises(RuntimeError, match="'meta' exists only as"):
        make(name)


def test_cpu_is_accepted_in_every_spelling() -> None:
    for d in ("cpu", "cpu:0", cr.device("cpu"), cr.device("cpu", 0)):
        assert data_device(d).type == "cpu"
        assert cr.zeros(1, device=d).device.type == "cpu"
