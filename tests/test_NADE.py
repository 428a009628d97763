"""NADE maths against plain NumPy: exact probabilities, their gradient, and exact sampling."""
import itertools

import numpy as np
import pytest
from tf1 import tf

import NADE

NV, NH = 5, 3
WIDE = (2 * NADE.BLOCK + 3, 4)     # several blocks of units in logits_by_blocks(), the last one padded; many levels


def np_log_prob(v, W, V, b, c):
    """log p(v) of one frame by the textbook loop over units, in float64."""
    a, total = np.array(c, np.float64), 0.0
    for i in range(len(v)):
        p = 1.0 / (1.0 + np.exp(-(b[i] + V[:, i] @ (1.0 / (1.0 + np.exp(-a))))))
        total += np.log(p if v[i] else 1.0 - p)
        a = a + v[i] * W[i]
    return total


def make_nade(nv, nh):
    rng = np.random.default_rng(0)
    return rng.normal(size=(nv, nh)), rng.normal(size=(nh, nv)), rng.normal(size=nv), rng.normal(size=nh)


@pytest.fixture
def nade():
    return make_nade(NV, NH)


@pytest.fixture(params=[(NV, NH), WIDE], ids=["one-block", "several-blocks"])
def any_nade(request):
    return make_nade(*request.param)


@pytest.fixture(params=[None, "levels", "blocks"])
def form(request):
    """NADE.logits' choice of form, and each form forced."""
    return request.param


def every_state(n):
    return np.array(list(itertools.product([0, 1], repeat=n)), np.float32)


def run(fn, *arrays):
    with tf.Graph().as_default(), tf.Session() as sess:
        return sess.run(fn(*(tf.constant(a, tf.float32) for a in arrays)))


def test_probabilities_of_every_state_sum_to_one_and_match_numpy(nade, form):
    states = every_state(NV)
    log_p = run(lambda *a: NADE.log_prob(*a, form=form), states, *nade)
    assert np.exp(log_p.astype(np.float64)).sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(log_p, [np_log_prob(v, *nade) for v in states], atol=1e-5)


def test_per_frame_biases_give_each_frame_its_own_distribution(any_nade, form):
    W, V, b, c = any_nade
    nv, nh = W.shape
    rng = np.random.default_rng(1)
    v = (rng.random((4, nv)) < 0.5).astype(np.float32)
    bs, cs = rng.normal(size=(4, nv)), rng.normal(size=(4, nh))
    got = run(lambda *a: NADE.log_prob(*a, form=form), v, W, V, bs, cs)
    np.testing.assert_allclose(got, [np_log_prob(v[r], W, V, bs[r], cs[r]) for r in range(4)], atol=1e-5)


def test_gradient_of_log_p_matches_numpy_finite_differences(any_nade, form):
    nade = any_nade
    v = (np.random.default_rng(3).random(len(nade[2])) < 0.5).astype(np.float32)
    with tf.Graph().as_default(), tf.Session() as sess:
        params = [tf.constant(a, tf.float32) for a in nade]
        grads = sess.run(tf.gradients(NADE.log_prob(tf.constant(v[None]), *params, form=form)[0], params))
    eps = 1e-6
    for which, (array, grad) in enumerate(zip(nade, grads)):
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            up, down = [a.copy() for a in nade], [a.copy() for a in nade]
            up[which][index] += eps
            down[which][index] -= eps
            numeric[index] = (np_log_prob(v, *up) - np_log_prob(v, *down)) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, atol=2e-4, err_msg=f"parameter {which}")


def test_unit_i_never_sees_itself_or_the_units_above_it(any_nade, form):
    nv = len(any_nade[2])
    rng = np.random.default_rng(2)
    v = (rng.random((1, nv)) < 0.5).astype(np.float32)
    changed = np.repeat(v, nv, 0)
    for i in range(nv):             # row i: units i and above flipped
        changed[i, i:] = 1.0 - changed[i, i:]
    before = run(lambda *a: NADE.logits(*a, form=form), v, *any_nade)[0]
    after = run(lambda *a: NADE.logits(*a, form=form), changed, *any_nade)
    for i in range(nv):
        np.testing.assert_allclose(after[i, :i + 1], before[:i + 1], rtol=1e-6, atol=1e-6)


def test_sample_frequencies_match_the_exact_probabilities(nade):
    n = 200_000
    with tf.Graph().as_default(), tf.Session() as sess:
        W, V, b, c = (tf.constant(a, tf.float32) for a in nade)
        drawn = sess.run(NADE.sample(W, V, b, c, tf.constant([3, 4], tf.int64), n=n))
        again = sess.run(NADE.sample(W, V, b, c, tf.constant([3, 4], tf.int64), n=n))
    np.testing.assert_array_equal(drawn, again)                       # a function of the seed
    index = drawn.astype(np.int64) @ (1 << np.arange(NV)[::-1])       # every_state's order
    frequencies = np.bincount(index, minlength=2 ** NV) / n
    exact = np.exp([np_log_prob(v, *nade) for v in every_state(NV)])
    np.testing.assert_allclose(frequencies, exact, atol=4 * np.sqrt(exact * (1 - exact) / n).max())
