"""PyTorch's ``torch.nn.modules.<file>`` paths resolve to chainrule's classes: every name that
torch's file exports and chainrule.nn implements is importable from the same path and is the
same class as ``chainrule.nn.<Name>``."""

from __future__ import annotations

import importlib

import pytest

import chainrule.nn as nn

PATHS = ["rnn", "sparse", "linear", "conv", "batchnorm", "dropout", "activation",
         "instancenorm", "normalization", "pooling", "container", "loss", "lazy", "distance",
         "padding", "channelshuffle"]


@pytest.mark.parametrize("path", PATHS)
def test_path_matches_torch(path):
    theirs = importlib.import_module(f"torch.nn.modules.{path}")
    ours = importlib.import_module(f"chainrule.nn.modules.{path}")
    names = [n for n in getattr(theirs, "__all__", []) if hasattr(nn, n)]
    assert names, f"nothing of torch.nn.modules.{path} is implemented"
    missing = [n for n in names if not hasattr(ours, n)]
    assert not missing, f"chainrule.nn.modules.{path} lacks {missing}"
    for n in names:
        assert getattr(ours, n) is getattr(nn, n), n


def test_required_aliases():
    from chainrule.nn.modules.batchnorm import BatchNorm2d, SyncBatchNorm
    from chainrule.nn.modules.rnn import GRU, LSTM, RNN
    from chainrule.nn.modules.sparse import Embedding

    assert (RNN, LSTM, GRU, Embedding, BatchNorm2d) == (nn.RNN, nn.LSTM, nn.GRU, nn.Embedding,
                                                          nn.BatchNorm2d)
    assert SyncBatchNorm is nn.SyncBatchNorm


def test_paths_as_attributes():
    """Code such as ``isinstance(m, torch.nn.modules.batchnorm._BatchNorm)`` (parameter
    grouping for weight decay) needs the paths as attributes, without an import."""
    import chainrule

    bn = chainrule.nn.modules.batchnorm
    assert isinstance(nn.BatchNorm1d(3), bn._BatchNorm)
    assert isinstance(nn.LazyBatchNorm2d(), bn._BatchNorm)
    assert chainrule.nn.modules.rnn.LSTM is nn.LSTM
    assert chainrule.nn.modules.sparse.Embedding is nn.Embedding
