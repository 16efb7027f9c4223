import torch

from gtn_nas.core.linalg import neumann_inverse


def _spd(n, seed):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    return q @ torch.diag(torch.linspace(0.5, 4.0, n, dtype=torch.float64)) @ q.T


def test_neumann_converges_to_solve():
    A = _spd(6, 0)
    v = torch.randn(6, dtype=torch.float64)
    approx = neumann_inverse(lambda u: (A @ u[0],), (v,), terms=400, alpha=0.2)[0]
    torch.testing.assert_close(approx, torch.linalg.solve(A, v), rtol=1e-8, atol=1e-8)


def test_neumann_matches_its_partial_sum_and_zero_terms_is_identity():
    A = _spd(5, 1)
    v = torch.randn(5, dtype=torch.float64)
    alpha, K = 0.1, 3
    M = torch.eye(5, dtype=torch.float64) - alpha * A
    expected = alpha * sum(torch.linalg.matrix_power(M, k) @ v for k in range(K + 1))
    torch.testing.assert_close(neumann_inverse(lambda u: (A @ u[0],), (v,), K, alpha)[0], expected)
    torch.testing.assert_close(neumann_inverse(lambda u: (A @ u[0],), (v,), 0, alpha)[0], alpha * v)


def test_neumann_works_on_several_tensors():
    A1, A2 = _spd(3, 2), _spd(4, 3)
    v = (torch.randn(3, dtype=torch.float64), torch.randn(4, dtype=torch.float64))
    out = neumann_inverse(lambda u: (A1 @ u[0], A2 @ u[1]), v, 500, 0.2)
    torch.testing.assert_close(out[0], torch.linalg.solve(A1, v[0]))
    torch.testing.assert_close(out[1], torch.linalg.solve(A2, v[1]))


def test_conjugate_gradient_solves_spd_systems_exactly_in_n_steps():
    from gtn_nas.core.linalg import conjugate_gradient

    A1, A2 = _spd(4, 5), _spd(3, 6)
    v = (torch.randn(4, dtype=torch.float64), torch.randn(3, dtype=torch.float64))
    # The block-diagonal system has 7 unknowns: 7 iterations are exact.
    out = conjugate_gradient(lambda u: (A1 @ u[0], A2 @ u[1]), v, 7)
    torch.testing.assert_close(out[0], torch.linalg.solve(A1, v[0]))
    torch.testing.assert_close(out[1], torch.linalg.solve(A2, v[1]))
    few = conjugate_gradient(lambda u: (A1 @ u[0], A2 @ u[1]), v, 2)
    assert not torch.allclose(few[0], out[0])
