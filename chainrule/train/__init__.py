"""``chainrule.train``: the Trainer, callbacks, metrics, checkpoints and run reports."""

from chainrule.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    GradientClip,
    JSONLLogger,
    LRScheduler,
    ModelCheckpoint,
    NaNPolicy,
    NonFiniteError,
    TensorBoard,
)
from chainrule.train.checkpoint import load_checkpoint, save_checkpoint
from chainrule.train.metrics import (
    Accuracy,
    ConfusionMatrix,
    F1Score,
    MeanAbsoluteError,
    MeanSquaredError,
    Metric,
    Precision,
    Recall,
    TopKAccuracy,
    precision_recall_f1,
)
from chainrule.train.trainer import History, Trainer

__all__ = [
    "Accuracy", "CSVLogger", "Callback", "ConfusionMatrix", "EarlyStopping", "F1Score",
    "GradientClip", "History", "JSONLLogger", "LRScheduler", "MeanAbsoluteError",
    "MeanSquaredError", "Metric", "ModelCheckpoint", "NaNPolicy", "NonFiniteError", "Precision",
    "Recall", "TensorBoard", "TopKAccuracy", "Trainer", "load_checkpoint",
    "precision_recall_f1", "save_checkpoint",
]
