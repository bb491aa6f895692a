"""Repository layout rules that pytest itself would only report as a collection error."""

from __future__ import annotations

import collections
import pathlib


def test_test_file_basenames_are_unique() -> None:
    # tests/ has no __init__.py files (rootdir-relative imports of helper modules), so two
    # test files with one basename would collide at collection time
    root = pathlib.Path(__file__).parent
    names = collections.Counter(p.name for p in root.rglob("test_*.py"))
    assert [n for n, c in names.items() if c > 1] == []
