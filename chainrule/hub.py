"""``torch.hub`` without a network: entry points from a local ``hubconf.py``.

``load(dir, "model", source="local")`` imports ``<dir>/hubconf.py``, checks its
``dependencies`` list and calls the entry point, as PyTorch does. GitHub repositories and
weight URLs are read from the hub cache (``get_dir()``, PyTorch's layout: a repository
``owner/name:ref`` in ``owner_name_ref``, weights in ``checkpoints/``) when they are already
there; otherwise a ``RuntimeError`` says that nothing can be downloaded and how to load a local
copy instead.

Example::

    model = chainrule.hub.load("/path/to/clone", "resnet18", source="local", num_classes=10)
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from urllib.parse import urlparse

__all__ = ["load", "list", "help", "get_dir", "set_dir", "load_state_dict_from_url",
           "download_url_to_file"]

MODULE_HUBCONF = "hubconf.py"
VAR_DEPENDENCY = "dependencies"
# packages a hubconf may list that chainrule itself stands in for
_STAND_INS = {"torch", "torchvision", "chainrule"}
_hub_dir: str | None = None


def get_dir() -> str:
    """The hub cache: ``set_dir``'s folder, else ``$TORCH_HOME/hub`` (``$TORCH_HOME`` defaults
    to ``$XDG_CACHE_HOME/torch``, ``$XDG_CACHE_HOME`` to ``~/.cache``), as PyTorch's."""
    if _hub_dir is not None:
        return _hub_dir
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return os.path.join(os.path.expanduser(os.getenv("TORCH_HOME",
                                                     os.path.join(cache, "torch"))), "hub")


def set_dir(d: str | os.PathLike) -> None:
    """Use folder ``d`` as the hub cache."""
    global _hub_dir
    _hub_dir = os.path.expanduser(os.fspath(d))


def _no_network(what: str, hint: str) -> RuntimeError:
    return RuntimeError(f"chainrule.hub cannot download {what}: chainrule has no network "
                        f"access (nothing is fetched from the internet). {hint}")


def _cached_repo(github: str) -> str:
    """The cached folder of ``owner/name[:ref]`` (``ref`` default: main, then master), or a
    RuntimeError saying it cannot be downloaded."""
    if ":" in github:
        repo, ref = github.split(":", 1)
        refs = [ref]
    else:
        repo, refs = github, ["main", "master"]
    if repo.count("/") != 1:
        raise ValueError(f'Invalid input: {github!r} must be of the form "repo_owner/repo_name'
                         '[:ref]" (or a local directory with source="local")')
    owner, name = repo.split("/")
    for ref in refs:
        folder = os.path.join(get_dir(), "_".join([owner, name, ref.replace("/", "_")]))
        if os.path.isfile(os.path.join(folder, MODULE_HUBCONF)):
            return folder
    raise _no_network(f"the GitHub repository {github!r}",
                      "Clone it elsewhere and call hub.load(<its folder>, <entry point>, "
                      f"source='local'), or place it in {get_dir()!r} as "
                      f"'{owner}_{name}_<ref>'.")


def _repo_dir(repo_or_dir: str, source: str) -> str:
    if source not in ("github", "local"):
        raise ValueError(f'Unknown source: "{source}". Allowed values: "github" | "local".')
    if source == "local":
        if not os.path.isfile(os.path.join(repo_or_dir, MODULE_HUBCONF)):
            raise FileNotFoundError(f"No {MODULE_HUBCONF} in the local directory "
                                    f"{repo_or_dir!r}")
        return os.fspath(repo_or_dir)
    return _cached_repo(repo_or_dir)


@contextlib.contextmanager
def _on_sys_path(path: str) -> Iterator[None]:
    sys.path.insert(0, path)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(path)


def _import_hubconf(repo_dir: str) -> ModuleType:
    """``<repo_dir>/hubconf.py`` as a fresh module (imported with ``repo_dir`` on sys.path, so
    that its own imports of the repository's packages work)."""
    path = os.path.join(repo_dir, MODULE_HUBCONF)
    spec = importlib.util.spec_from_file_location("hubconf", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_dependencies(module: ModuleType) -> None:
    deps = getattr(module, VAR_DEPENDENCY, None)
    if deps is not None:
        missing = [pkg for pkg in deps if pkg not in _STAND_INS
                   and importlib.util.find_spec(pkg) is None]
        if missing:
            raise RuntimeError(f"Missing dependencies: {', '.join(missing)}")


def _entry(module: ModuleType, model: str) -> Any:
    if not isinstance(model, str):
        raise ValueError("Invalid input: model should be a string of function name")
    _check_dependencies(module)
    func = getattr(module, model, None)
    if func is None or not callable(func):
        raise RuntimeError(f"Cannot find callable {model} in hubconf")
    return func


def load(repo_or_dir: str, model: str, *args: Any, source: str = "github",
         trust_repo: Any = "check", force_reload: bool = False, verbose: bool = True,
         skip_validation: bool = False, **kwargs: Any) -> Any:
    """Call entry point ``model`` of ``<repo_or_dir>/hubconf.py`` with ``*args, **kwargs``.

    ``source="local"``: ``repo_or_dir`` is a folder. ``source="github"``: ``owner/name[:ref]``,
    found in the hub cache only (there is no download; ``force_reload`` raises).
    ``trust_repo``, ``verbose`` and ``skip_validation`` are accepted (nothing is fetched, so
    there is nothing to validate or trust).
    """
    if source == "github" and force_reload:
        raise _no_network(f"the GitHub repository {repo_or_dir!r} (force_reload=True)",
                          "Use a local clone with source='local'.")
    repo_dir = _repo_dir(repo_or_dir, source)
    with _on_sys_path(repo_dir):
        module = _import_hubconf(repo_dir)
        return _entry(module, model)(*args, **kwargs)


def list(github: str, force_reload: bool = False, skip_validation: bool = False,  # noqa: A001
         trust_repo: Any = "check", verbose: bool = True) -> builtins.list[str]:
    """The callable entry points of a repository's hubconf (names not starting with ``_``);
    ``github`` is ``owner/name[:ref]`` in the cache, or (chainrule) a local folder."""
    repo_dir = github if os.path.isdir(github) else _repo_dir(github, "github")
    with _on_sys_path(repo_dir):
        module = _import_hubconf(repo_dir)
    return [name for name in dir(module)
            if callable(getattr(module, name)) and not name.startswith("_")]


def help(github: str, model: str, force_reload: bool = False,  # noqa: A001
         skip_validation: bool = False, trust_repo: Any = "check") -> str | None:
    """The docstring of entry point ``model`` (``github`` as for :func:`list`)."""
    repo_dir = github if os.path.isdir(github) else _repo_dir(github, "github")
    with _on_sys_path(repo_dir):
        module = _import_hubconf(repo_dir)
        return _entry(module, model).__doc__


def download_url_to_file(url: str, dst: str, hash_prefix: str | None = None,
                         progress: bool = True) -> None:
    """Always raises: there is no network."""
    raise _no_network(repr(url), f"Download it by other means and save it as {dst!r}.")


def load_state_dict_from_url(url: str, model_dir: str | None = None, map_location: Any = None,
                             progress: bool = True, check_hash: bool = False,
                             file_name: str | None = None, weights_only: bool = False) -> Any:
    """``chainrule.load`` of the file this URL was cached as (``<model_dir or
    get_dir()/checkpoints>/<file_name or the URL's base name>``); a RuntimeError naming that
    path if it is not there. The file must be one ``chainrule.save`` can read (safetensors)."""
    folder = model_dir if model_dir is not None else os.path.join(get_dir(), "checkpoints")
    name = file_name if file_name is not None else os.path.basename(urlparse(url).path)
    cached = os.path.join(folder, name)
    if not os.path.exists(cached):
        raise _no_network(repr(url), f"Place the file at {cached!r} and call again.")
    from chainrule.serialization import load as _load

    return _load(cached, map_location=map_location, weights_only=weights_only)
