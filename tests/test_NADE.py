"""NADE maths against plain NumPy: exact probabilities, their gradient, and exact sampling."""
import itertools
import os

import numpy as np
import pytest
from tf1 import tf

import NADE
from conftest import ROOT, weights

NV, NH = 5, 3
WIDE = (2 * NADE.BLOCK + 3, 4)     # several blocks of units in logits_by_blocks(), the last one padded; many levels
WINDOWED = (2 * NADE.WINDOW + 11, 3)    # several windows of logits_by_windows(), the last one padded
PRESETS = {"original": (780, 50), "paper": (88, 150)}


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


@pytest.fixture(params=[(NV, NH), WIDE, WINDOWED], ids=["one-block", "several-blocks", "several-windows"])
def any_nade(request):
    return make_nade(*request.param)


@pytest.fixture(params=[None, *NADE.FORMS])
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


@pytest.mark.parametrize("sampler", [NADE.sample, NADE.sample_by_units], ids=["by-runs", "by-units"])
def test_sample_frequencies_match_the_exact_probabilities(nade, sampler):
    n = 200_000
    with tf.Graph().as_default(), tf.Session() as sess:
        W, V, b, c = (tf.constant(a, tf.float32) for a in nade)
        drawn = sess.run(sampler(W, V, b, c, tf.constant([3, 4], tf.int64), n=n))
        again = sess.run(sampler(W, V, b, c, tf.constant([3, 4], tf.int64), n=n))
    np.testing.assert_array_equal(drawn, again)                       # a function of the seed
    index = drawn.astype(np.int64) @ (1 << np.arange(NV)[::-1])       # every_state's order
    frequencies = np.bincount(index, minlength=2 ** NV) / n
    exact = np.exp([np_log_prob(v, *nade) for v in every_state(NV)])
    np.testing.assert_allclose(frequencies, exact, atol=4 * np.sqrt(exact * (1 - exact) / n).max())


def preset_frames(nv, rng):
    """Frames of every kind the forms treat apart: all off, the most on of a chorale row and more
    (scattered), a dense run of consecutive units (many levels in one window), and every unit on."""
    off, full = np.zeros(nv), np.ones(nv)
    scattered = np.zeros(nv)
    scattered[rng.choice(nv, size=min(40, nv // 2), replace=False)] = 1
    dense = np.zeros(nv)
    dense[nv // 3:nv // 3 + 30] = 1
    return np.array([off, scattered, dense, full, rng.random(nv) < 0.05], np.float32)


@pytest.mark.parametrize("preset", PRESETS)
def test_log_p_and_its_gradient_match_numpy_at_the_presets_sizes(preset, form):
    """Each form at the real sizes: log p against NumPy's loop, and the gradient of each parameter
    along a random direction against NumPy's central difference along it."""
    nv, nh = PRESETS[preset]
    rng = np.random.default_rng(7)
    nade = [0.3 * rng.normal(size=(nv, nh)), 0.3 * rng.normal(size=(nh, nv)), rng.normal(size=nv), rng.normal(size=nh)]
    frames = preset_frames(nv, rng)
    total = lambda params: sum(np_log_prob(v, *params) for v in frames)
    with tf.Graph().as_default(), tf.Session() as sess:
        params = [tf.constant(a, tf.float32) for a in nade]
        log_p = NADE.log_prob(tf.constant(frames), *params, form=form)
        got, grads = sess.run([log_p, tf.gradients(tf.reduce_sum(log_p), params)])
    np.testing.assert_allclose(got, [np_log_prob(v, *nade) for v in frames], rtol=1e-5, atol=2e-3)
    eps = 1e-4
    for which, grad in enumerate(grads):
        direction = rng.normal(size=nade[which].shape)
        up, down = list(nade), list(nade)
        up[which], down[which] = nade[which] + eps * direction, nade[which] - eps * direction
        numeric = (total(up) - total(down)) / (2 * eps)
        assert np.sum(grad * direction) == pytest.approx(numeric, rel=1e-3, abs=1e-2), f"parameter {which}"


def first_differences(a, b):
    """(row, unit) of the first unit where each differing row of a and b differs."""
    rows = np.flatnonzero((a != b).any(1))
    return [(r, int(np.argmax(a[r] != b[r]))) for r in rows]


def compare_samplers(W, V, b, c, seed):
    """(sample's frames, sample_by_units' frames, the uniforms) from the same uniforms."""
    with tf.Graph().as_default(), tf.Session() as sess:
        args = [tf.constant(a, tf.float32) for a in (W, V, b, c)] + [tf.constant(seed, tf.int64)]
        _, _, uniforms = NADE._frame_inputs(args[2], args[3], args[4], None)
        return sess.run([NADE.sample(*args), NADE.sample_by_units(*args), uniforms])


def assert_same_frames_up_to_rounding(W, V, b, c, seed, min_rows_on=0):
    """sample and sample_by_units draw the same frames, except where a uniform lies within float
    rounding of its probability (checked in float64 on the reference's frame). Returns how many
    of the frames differ."""
    by_runs, by_units, uniforms = compare_samplers(W, V, b, c, seed)
    assert by_units.sum(1).max() >= min_rows_on
    for row, unit in first_differences(by_runs, by_units):
        a = c[row] + by_units[row, :unit].astype(np.float64) @ W[:unit]
        p = 1 / (1 + np.exp(-(b[row, unit] + V[:, unit] @ (1 / (1 + np.exp(-a))))))
        assert abs(uniforms[row, unit] - p) < 1e-5, f"row {row} unit {unit}: u {uniforms[row, unit]} p {p}"
    return len(first_differences(by_runs, by_units))


@pytest.mark.parametrize("shape", [(NV, NH), WINDOWED], ids=["tiny", "several-windows"])
def test_sample_draws_the_frames_of_sample_by_units_from_the_same_uniforms(shape):
    nv, nh = shape
    W, V, _, _ = make_nade(nv, nh)
    rng = np.random.default_rng(5)
    rows = 4000
    b, c = rng.normal(size=(rows, nv)) - 1.0, rng.normal(size=(rows, nh))
    differ = assert_same_frames_up_to_rounding(W, V, b, c, [11, 12], min_rows_on=3)
    assert differ <= rows // 1000


@pytest.mark.parametrize("name", ["pretrained_nade.ckpt", "pretrained_nade_sharpened.ckpt"])
def test_sample_draws_the_shipped_checkpoints_frames_of_sample_by_units(name):
    """The shipped RNN-NADE's frame distributions, with biases from recurrent states drawn over
    the tanh's range: the same frames from the same uniforms, up to float rounding."""
    path = os.path.join(ROOT, "parameter_checkpoints", name)
    if not os.path.exists(path + ".index"):
        pytest.skip(f"{path} is not here")
    w = weights(path)
    u = np.random.default_rng(8).uniform(-1, 1, size=(600, w["Wuv"].shape[0]))
    b, c = w["bv"] + u @ w["Wuv"], w["bh"] + u @ w["Wuh"]
    differ = assert_same_frames_up_to_rounding(w["W"], w["V"], b, c, [13, 14], min_rows_on=20)
    assert differ <= 3


def test_the_log_p_that_sample_gives_is_log_prob_of_its_frames():
    W, V, _, _ = make_nade(*WINDOWED)
    rng = np.random.default_rng(9)
    b, c = rng.normal(size=(300, WINDOWED[0])) - 1.0, rng.normal(size=(300, WINDOWED[1]))
    with tf.Graph().as_default(), tf.Session() as sess:
        args = [tf.constant(a, tf.float32) for a in (W, V, b, c)]
        frames, log_p = NADE.sample(*args, tf.constant([1, 2], tf.int64), with_log_prob=True)
        plain = NADE.sample(*args, tf.constant([1, 2], tf.int64))
        frames, log_p, plain, exact = sess.run([frames, log_p, plain, NADE.log_prob(frames, *args)])
    np.testing.assert_array_equal(frames, plain)
    assert frames.sum(1).min() < frames.sum(1).max()
    np.testing.assert_allclose(log_p, exact, rtol=1e-5, atol=1e-4)


def test_each_batch_takes_the_form_its_sizes_make_cheapest():
    """Chorale rows at the original preset take the windows, sparse frames at the paper preset the
    levels, and dense frames the blocks; an empty batch runs too."""
    rng = np.random.default_rng(10)
    chorale = np.zeros((50, 780), np.float32)      # 4 voices in each of 5 16ths: 20 play bits of 780 on
    for row in chorale:
        for step in range(5):
            row[156 * step + rng.choice(78, 4, replace=False)] = 1
    sparse = (rng.random((50, 88)) < 0.05).astype(np.float32)
    dense = (rng.random((50, 780)) < 0.5).astype(np.float32)
    with tf.Graph().as_default(), tf.Session() as sess:
        chosen = sess.run([NADE.cheapest_form(tf.constant(v), v.shape[1], nh)
                           for v, nh in ((chorale, 50), (sparse, 150), (dense, 50), (np.ones_like(sparse), 150))])
        empty = sess.run(NADE.log_prob(tf.zeros([0, 780]), *(tf.constant(a, tf.float32) for a in make_nade(780, 50))))
    assert [NADE.FORMS[i] for i in chosen] == ["windows", "levels", "blocks", "blocks"]
    assert empty.shape == (0,)
