"""chainrule.hub (torch.hub without a network): local hubconf.py entry points, the cache
layout, and PyTorch's error messages (compared with torch.hub on the same folders)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule import hub

HUBCONF = '''
"""A tiny hub repository."""
import {lib} as torch
from {pkg}.layers import Scaled

dependencies = {deps}


def tiny(hidden=4, scale=2.0):
    """Scaled(Linear(3, hidden))."""
    torch.manual_seed(0)
    return Scaled(torch.nn.Linear(3, hidden), scale)


def _helper():
    return None


not_callable = 3
'''
LAYERS = '''
import {lib} as torch


class Scaled(torch.nn.Module):
    def __init__(self, inner, scale):
        super().__init__()
        self.inner, self.scale = inner, scale

    def forward(self, x):
        return self.inner(x) * self.scale
'''


def _repo(root: Path, lib: str, deps: str = "['torch', 'numpy']") -> str:
    pkg = f"pkg_{root.name}_{abs(hash(str(root)))}"   # (sys.modules caches packages by name)
    (root / pkg).mkdir(parents=True)
    (root / pkg / "__init__.py").write_text("")
    (root / pkg / "layers.py").write_text(textwrap.dedent(LAYERS.format(lib=lib)))
    (root / "hubconf.py").write_text(HUBCONF.format(lib=lib, deps=deps, pkg=pkg))
    return str(root)


def test_local_entry_point_list_and_help(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo", "chainrule")
    model = chainrule.hub.load(repo, "tiny", source="local", hidden=5, scale=3.0)
    out = model(chainrule.ones(2, 3))
    assert tuple(out.shape) == (2, 5) and model.scale == 3.0
    np.testing.assert_allclose(out.detach().numpy(),
                               3.0 * model.inner(chainrule.ones(2, 3)).detach().numpy())
    assert chainrule.hub.list(repo) == ["Scaled", "tiny"]   # imported callables too, as torch
    assert chainrule.hub.help(repo, "tiny") == "Scaled(Linear(3, hidden))."
    assert repo not in __import__("sys").path           # the folder was taken off sys.path


def test_errors_are_torchs(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pairs = []
    for lib, mod in (("torch", torch.hub), ("chainrule", hub)):
        repo = _repo(tmp_path / lib, lib, deps="['torch', 'no_such_package_xyz']")
        calls = [(repo, "tiny", "local"), (repo, "tiny", "gitlab"),
                 (_repo(tmp_path / (lib + "2"), lib), "not_callable", "local"),
                 (_repo(tmp_path / (lib + "3"), lib), "absent", "local")]
        errors = []
        for folder, entry, source in calls:
            with pytest.raises((RuntimeError, ValueError)) as info:
                mod.load(folder, entry, source=source)
            errors.append((type(info.value), str(info.value)))
        pairs.append(errors)
    assert pairs[1] == pairs[0]


def test_github_needs_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "_hub_dir", None)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    assert hub.get_dir() == str(tmp_path / "home" / "hub")
    with pytest.raises(RuntimeError, match="no network access.*source='local'"):
        hub.load("someone/somerepo", "tiny")
    _repo(Path(hub.get_dir()) / "someone_somerepo_main", "chainrule")
    assert tuple(hub.load("someone/somerepo", "tiny", hidden=2).inner.weight.shape) == (2, 3)
    assert hub.list("someone/somerepo:main") == ["Scaled", "tiny"]
    with pytest.raises(RuntimeError, match="no network access"):
        hub.load("someone/somerepo", "tiny", force_reload=True)
    with pytest.raises(RuntimeError, match="no network access"):
        hub.download_url_to_file("https://example.com/w.pt", str(tmp_path / "w.pt"))


def test_set_dir_and_cached_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "_hub_dir", None)
    hub.set_dir(tmp_path / "cache")
    assert hub.get_dir() == str(tmp_path / "cache")
    url = "https://example.com/models/tiny-1234.safetensors"
    with pytest.raises(RuntimeError, match=r"no network access.*tiny-1234\.safetensors"):
        hub.load_state_dict_from_url(url)
    os.makedirs(tmp_path / "cache" / "checkpoints")
    lin = chainrule.nn.Linear(3, 2)
    chainrule.save(lin.state_dict(), str(tmp_path / "cache" / "checkpoints" /
                                         "tiny-1234.safetensors"))
    state = hub.load_state_dict_from_url(url, map_location="cpu")
    np.testing.assert_array_equal(state["weight"].numpy(), lin.weight.detach().numpy())
