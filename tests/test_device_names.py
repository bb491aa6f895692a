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


def test_meta_skeleton_tensors_report_the_meta_device_as_torch() -> None:
    import torch

    for to_meta in (lambda m: m.to("meta"), lambda m: m.to(cr.device("meta"))):
        ours = to_meta(cr.nn.Sequential(cr.nn.Linear(2, 3), cr.nn.BatchNorm1d(3)))
        theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3)).to("meta")
        for (k, a), (k2, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
            assert k == k2 and str(a.device) == str(b.device) == "meta", k
            assert a.is_meta and not a.is_cpu and tuple(a.shape) == tuple(b.shape)
        assert ours[0].weight.T.device.type == "meta"  # a view of a meta tensor is meta
        ours.to_empty(device="cpu")
        assert all(t.device.type == "cpu" and not t.is_meta for t in ours.state_dict().values())


@pytest.mark.parametrize("make", [
    lambda: cr.tensor(1.0).expand(3), lambda: cr.ones(1, 1).expand(2, 5),
    lambda: cr.ones(1).broadcast_to((4,)),
])
def test_expanded_views_are_not_meta(make) -> None:
    # read-only zero-stride views are what expand gives too: they are CPU data
    t = make()
    assert t.device.type == "cpu" and not t.is_meta and t.is_cpu


def test_bfloat16_type_string_names_the_missing_dtype() -> None:
    for spec in ("torch.BFloat16Tensor", "chainrule.BFloat16Tensor"):
        with pytest.raises(NotImplementedError, match="cannot store bfloat16"):
            cr.ones(2).type(spec)
    with pytest.raises(ValueError, match="invalid type: 'torch.NoSuchTensor'"):
        cr.ones(2).type("torch.NoSuchTensor")
