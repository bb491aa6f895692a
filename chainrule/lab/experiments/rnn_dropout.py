"""Dropout in recurrent networks: where it may go, and where it erases the memory (C4–C7).

Language-model experiments (C4, C5, C7) train a 2-layer LSTM on text from a seeded Markov
chain (:class:`chainrule.datasets.sequence.MarkovChainText`), whose entropy rate H is known, so
every perplexity is shown beside the floor exp(H) that no model can beat. The training corpus
is small on purpose: without dropout the model memorises it and the validation perplexity
turns up. Placements come from ``nn.LSTM``'s ``dropout=`` switch (:class:`nn.RNNDropout`).

C6 is the memory task (:func:`chainrule.datasets.sequence.memory_task`: classify a sequence by
its first symbol). The two placements on the cell state c_t (per-step and per-sequence masks)
are not offered by ``nn.LSTM`` — they are the ones the literature warns against — so C6 runs
its own LSTM recurrence with the parameters of an ``nn.LSTMCell``: a composite per-step loop
(:func:`masked_lstm_scan_composite`) and a fused primitive with NumPy BPTT
(:class:`MaskedLSTMScan`, the same pattern as ``ops.recurrent.RecurrentScan``) that the
experiment uses for speed; the unit tests hold the two to each other.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.autograd.engine import Function, _GradMode
from chainrule.backend import xp
from chainrule.datasets.sequence import MarkovChainText, memory_task
from chainrule.lab import common
from chainrule.lab.experiment import HOLDS, INCONCLUSIVE, REFUTED, Context, Experiment, Result
from chainrule.lab.experiment import register
from chainrule.lab.verdict import below, combine, compare, fmt, mean_std
from chainrule.ops.recurrent import recompute_vjp
from chainrule.tensor import Tensor, _wrap, apply, stack

__all__ = [
    "MarkovLM", "LMConfig", "train_lm", "MaskedLSTMScan", "masked_lstm_scan",
    "masked_lstm_scan_composite", "MemoryLSTM", "C4NonRecurrentDropout",
    "C5VariationalDropout", "C6MemoryLoss", "C7WeightDrop",
]
