"""docs/optim.md runs: every ```python block, top to bottom, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "optim.md"


def test_docs_snippets_run(capsys):
    pytest.importorskip("sklearn")
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 8
    env: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), env)
    # what the page claims
    steps, final = env["fit"](1)
    assert steps == 1280 and final < 0.02
    assert env["fit"](256)[1] > 2 * final
    assert (env["prox"] == 0).sum() >= 5 and (env["sub"] == 0).sum() == 0
    assert np.linalg.norm(env["layer"].weight.data, axis=1).max() <= 0.5 + 1e-9
    np.testing.assert_allclose(env["saddle"](), [0.0, 0.0], atol=1e-12)
    assert abs(env["saddle"](saddle_free=True)[1]) > 1.0
    np.testing.assert_allclose(env["z"].data, [1.0, 1.0], atol=1e-6)
    assert 1e-2 < env["result"].suggestion < 0.7  # GD on this data diverges above 2/L ≈ 0.75
    assert "suggested lr" in capsys.readouterr().out
