"""Datasets, samplers and the DataLoader (PyTorch's ``torch.utils.data``)."""

from chainrule.utils.data.collate import default_collate, default_convert
from chainrule.utils.data.dataloader import (
    DataLoader,
    get_generator_state,
    get_worker_info,
    set_generator_state,
)
from chainrule.utils.data.dataset import (
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
    split_lengths,
)
from chainrule.utils.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "BatchSampler",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "default_collate",
    "default_convert",
    "get_generator_state",
    "get_worker_info",
    "random_split",
    "set_generator_state",
    "split_lengths",
]
