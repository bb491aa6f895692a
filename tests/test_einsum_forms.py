"""torch.einsum's other forms against torch in float64: ellipsis (broadcast leading
dimensions), repeated subscripts (diagonals), implicit output; values and gradients."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402

CASES = [
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk->...ik", [(3, 4), (2, 4, 5)]),            # ellipsis of different widths
    ("b...d,bd->b...", [(2, 3, 4, 5), (2, 5)]),
    ("...i,...i", [(2, 1, 4), (3, 4)]),                    # implicit: broadcast size 1
    ("...,...->...", [(2, 3), (3,)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),                                        # implicit: the trace
    ("bii->b", [(3, 4, 4)]),
    ("iij,jk->ik", [(3, 3, 2), (2, 5)]),
    ("ij,jk", [(3, 4), (4, 2)]),                             # implicit: ik
    ("ba,ca", [(3, 4), (2, 4)]),                             # implicit: bc (alphabetical)
    ("bhqd, bhkd -> bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),    # spaces
]


@pytest.mark.parametrize("eq, shapes", CASES)
def test_einsum_equals_torch(eq, shapes):
    rng = np.random.default_rng(len(eq))
    arrays = [rng.standard_normal(s) for s in shapes]
    ct = [chainrule.tensor(a, requires_grad=True) for a in arrays]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    cy, ty = chainrule.einsum(eq, *ct), torch.einsum(eq, *tt)
    assert tuple(cy.shape) == tuple(ty.shape)
    np.testing.assert_allclose(cy.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-13)
    w = rng.standard_normal(tuple(ty.shape))
    (cy * chainrule.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    for c, t in zip(ct, tt):
        np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-13)


def test_operand_count_mismatch_raises():
    with pytest.raises(ValueError, match="2 operands in the equation"):
        chainrule.einsum("ij,jk->ik", chainrule.ones(2, 2))


def test_float32_matmul_precision_is_recorded_as_torch():
    for lib in (torch, chainrule):
        lib.set_float32_matmul_precision("high")
        assert lib.get_float32_matmul_precision() == "high"
        with pytest.warns(UserWarning, match="is not one of 'highest', 'high', or 'medium'"):
            lib.set_float32_matmul_precision("low")
        assert lib.get_float32_matmul_precision() == "high"
        lib.set_float32_matmul_precision("highest")
