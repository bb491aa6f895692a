"""Datasets, samplers and the DataLoader (PyTorch's ``torch.utils.data``)."""

from chainrule.utils.data.collate import default_collate, default_convert
from chainrule.utils.data.dataloader import (
    DataLoader,
    get_generator_state,
    get_worker_info,
    set_generator_state,
)
from chainrule.utils.data.dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
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
    "ChainDataset",
    "DistributedSampler",
    "StackDataset",
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


def __getattr__(name: str) -> object:
    # torch.utils.data.DistributedSampler / torch.utils.data.distributed: chainrule.distributed's
    # sampler, imported on first use
    import importlib

    if name == "distributed":
        return importlib.import_module("chainrule.utils.data.distributed")
    if name == "DistributedSampler":
        return importlib.import_module("chainrule.utils.data.distributed").DistributedSampler
    raise AttributeError(f"module 'chainrule.utils.data' has no attribute {name!r}")
