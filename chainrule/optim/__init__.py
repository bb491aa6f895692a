"""``chainrule.optim``: optimizers (PyTorch's API), Newton's method, L-BFGS, LR schedules.

Example::

    opt = chainrule.optim.Adam(model.parameters(), lr=1e-3)
    sched = chainrule.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
"""

from chainrule.optim import lr_scheduler, schedules
from chainrule.optim.adadelta import Adadelta
from chainrule.optim.adafactor import Adafactor
from chainrule.optim.adagrad import Adagrad
from chainrule.optim.adam import Adam, AdamW
from chainrule.optim.adamax import Adamax
from chainrule.optim.asgd import ASGD
from chainrule.optim.lbfgs import LBFGS
from chainrule.optim.nadam import NAdam
from chainrule.optim.newton import Newton
from chainrule.optim.optimizer import Optimizer
from chainrule.optim.radam import RAdam
from chainrule.optim.rmsprop import RMSprop
from chainrule.optim.rprop import Rprop
from chainrule.optim.sgd import SGD
from chainrule.optim.sparse_adam import SparseAdam

__all__ = [
    "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Adadelta", "Adamax", "NAdam", "RAdam",
    "Rprop", "ASGD", "LBFGS", "SparseAdam", "Adafactor", "Newton", "Optimizer", "lr_scheduler",
    "schedules",
    "lr_finder", "swa_utils",
]


def __getattr__(name: str) -> object:
    if name in ("lr_finder", "swa_utils"):  # imported on first use: they pull in nn / training
        import importlib

        mod = importlib.import_module(f"chainrule.optim.{name}")
        globals()[name] = mod
        return mod
    raise AttributeError(f"module 'chainrule.optim' has no attribute {name!r}")
