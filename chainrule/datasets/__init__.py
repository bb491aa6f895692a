"""Bundled and synthetic data sets, data checks and file formats (nothing is downloaded).

* ``mnist1d``: MNIST-1D generated locally and cached (``MNIST1D``, ``load_mnist1d``);
* ``tabular``: scikit-learn's 8x8 digits, breast cancer, iris, wine (``load_digits`` ...);
* ``synthetic``: seeded spirals, moons, circles, XOR, noisy sine;
* ``checks``: ``validate``, ``class_balance``, ``stratified_split``, ``standardize``;
* ``files``: IDX, CSV and NPZ readers/writers and ``cache_dir``.

scikit-learn and mnist1d are imported only when a loader that needs them is called.
"""

from chainrule.datasets.checks import (
    ClassBalance,
    DataError,
    class_balance,
    standardize,
    stratified_random_split,
    stratified_split,
    targets_of,
    validate,
)
from chainrule.datasets.files import (
    CSVData,
    cache_dir,
    load_npz,
    read_csv,
    read_idx,
    save_npz,
    write_csv,
    write_idx,
)
from chainrule.datasets.mnist1d import MNIST1D, load_mnist1d, mnist1d_arrays
from chainrule.datasets.sequence import MarkovChainText, memory_task
from chainrule.datasets.synthetic import circles, moons, sine_regression, spirals, xor
from chainrule.datasets.tabular import (
    TabularData,
    load_breast_cancer,
    load_digits,
    load_iris,
    load_tabular,
    load_wine,
    to_datasets,
)
