"""PyTorch's module path ``torch.nn.modules.rnn``: the recurrent layers of
:mod:`chainrule.nn.modules.recurrent` under that name (the same classes)."""

from chainrule.nn.modules.recurrent import (
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    RNNBase,
    RNNCell,
    RNNCellBase,
)

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]
