"""``chainrule.save``/``load`` keep what ``torch.save``/``torch.load`` keep: one tensor reached
twice loads as one object, tensors that share memory still share it, a Parameter stays one."""
import io

import numpy as np
import pytest
import torch

import chainrule as cr


def _round_trip(obj, save, load):
    buf = io.BytesIO()
    save(obj, buf)
    buf.seek(0)
    return load(buf)


def _views(lib):
    x = lib.arange(24.0).reshape(4, 6)
    return {"x": x, "again": x, "rows": x[1:3], "cols": x[:, ::2], "T": x.T,
            "flipped": x.flip(0) if lib is torch else x.flip(0), "detached": x.detach(),
            "elem": x[2, 3], "alone": lib.ones(3)}


def test_sharing_and_identity_match_torch() -> None:
    ours = _round_trip(_views(cr), cr.save, cr.load)
    theirs = _round_trip(_views(torch), torch.save, torch.load)
    assert (ours["x"] is ours["again"]) and (theirs["x"] is theirs["again"])
    ours["x"].mul_(-1)  # an in-place change shows in every tensor that shares the memory
    theirs["x"].mul_(-1)
    for k in ours:
        np.testing.assert_array_equal(ours[k].numpy(), theirs[k].numpy(), err_msg=k)
    assert ours["alone"].numpy().tolist() == [1.0, 1.0, 1.0]


def test_unshared_tensors_stay_independent() -> None:
    a, b = cr.zeros(3), cr.zeros(3)
    out = _round_trip({"a": a, "b": b, "c": a.clone()}, cr.save, cr.load)
    out["a"].add_(1)
    assert out["b"].sum().item() == 0 and out["c"].sum().item() == 0


def test_parameters_and_requires_grad_round_trip() -> None:
    p = cr.nn.Parameter(cr.randn(2, 2))
    q = cr.nn.Parameter(cr.randn(2), requires_grad=False)
    out = _round_trip({"p": p, "params": [p, q]}, cr.save, cr.load)
    assert isinstance(out["p"], cr.nn.Parameter) and out["p"] is out["params"][0]
    assert out["p"].requires_grad and not out["params"][1].requires_grad
    np.testing.assert_array_equal(out["p"].detach().numpy(), p.detach().numpy())


def test_tied_weights_state_dict_loads_in_both_libraries(tmp_path) -> None:
    from safetensors.torch import load_file

    emb = cr.nn.Embedding(5, 3)
    head = cr.nn.Linear(3, 5, bias=False)
    head.weight = emb.weight  # weight tying
    model = cr.nn.ModuleDict({"emb": emb, "head": head})
    path = tmp_path / "tied.safetensors"
    cr.save(model.state_dict(), path)
    loaded = cr.load(path)
    assert np.shares_memory(loaded["emb.weight"].numpy(), loaded["head.weight"].numpy())
    flat = load_file(str(path))  # names are still the state-dict keys, each stored whole
    assert sorted(flat) == ["emb.weight", "head.weight"]
    np.testing.assert_array_equal(flat["head.weight"].numpy(), emb.weight.detach().numpy())
    model.load_state_dict(loaded)


def test_a_corrupted_sharing_entry_is_reported_not_loaded() -> None:
    from chainrule.serialization import CheckpointError

    x = cr.arange(6.0)
    buf = io.BytesIO()
    cr.save({"x": x, "v": x[2:]}, buf)
    data = bytearray(buf.getvalue())
    at = data.find(b"[0,8,[4]]")  # the view's entry: storage 0, byte offset 8, strides
    assert at > 0
    data[at + 3] = ord("9")  # byte offset 8 -> 9
    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):
        cr.load(io.BytesIO(bytes(data)))
