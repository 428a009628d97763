"""The DBN maths (DBN.py) against a tiny DBN enumerated exactly in NumPy."""
import itertools

import numpy as np
import pytest

import DBN
import RBM
from tf1 import tf

SIZES = (4, 3, 2)      # hidden layers over 5 visible units: 2^5 frames, the top RBM over h2 (3 units) and h3 (2)
NV = 5
SEED = np.array([7, 0], np.int64)


def states(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)), np.float32)     # [2^n, n]


def softplus(x):
    return np.logaddexp(0.0, x)


def bernoulli_log_p(x, logits):
    return (x * logits - softplus(logits)).sum(-1)


def tiny_dbn(seed=0, scale=1.5):
    """(weights [W, W2, W3], bv, packed bh) of a tiny DBN with strong weights."""
    rng = np.random.default_rng(seed)
    dims = (NV, *SIZES)
    weights = [rng.normal(0, scale, (a, b)).astype(np.float32) for a, b in zip(dims, dims[1:])]
    bv = rng.normal(0, 1, NV).astype(np.float32)
    bh = rng.normal(0, 1, DBN.bias_width(SIZES)).astype(np.float32)
    return weights, bv, bh


def numpy_biases(bv, bh, sizes=SIZES):
    widths = [sizes[0]] + [n for l in range(1, len(sizes)) for n in (sizes[l - 1], sizes[l])]
    parts = np.split(bh, np.cumsum(widths)[:-1])
    return [(bv, parts[0])] + [(parts[2 * l - 1], parts[2 * l]) for l in range(1, len(sizes))]


def exact_log_p(weights, bv, bh, sizes=SIZES):
    """(log p(v) of every frame [2^NV], log Z of the top RBM), by enumerating every layer."""
    biases = numpy_biases(bv, bh, sizes)
    W_top, (b_top, c_top) = weights[-1], biases[-1]
    top = states(weights[-1].shape[0])
    log_top = top @ b_top + softplus(top @ W_top + c_top).sum(1)                  # -F(h_{L-1})
    log_z = np.logaddexp.reduce(log_top)
    log_p_layer = log_top - log_z                                                  # log p(h_{L-1})
    for l in range(len(weights) - 2, -1, -1):                                      # down to p(x_l) for x_l below
        below = states(weights[l].shape[0])
        above = states(weights[l].shape[1])
        W, (b, _) = weights[l], biases[l]
        log_cond = np.array([[bernoulli_log_p(x, h @ W.T + b) for h in above] for x in below])   # [below, above]
        log_p_layer = np.logaddexp.reduce(log_cond + log_p_layer[None, :], axis=1)
    return log_p_layer, log_z


def graph_parts(weights, bv, bh, rows=None):
    ws = [tf.constant(W) for W in weights]
    b_v, b_h = tf.constant(bv), tf.constant(bh)
    if rows is not None:
        b_v, b_h = tf.tile(b_v[None], [rows, 1]), tf.tile(b_h[None], [rows, 1])
    return ws, DBN.split_biases(b_v, b_h, SIZES)


def test_the_exact_enumeration_is_a_distribution():
    log_p, _ = exact_log_p(*tiny_dbn())
    assert np.exp(log_p).sum() == pytest.approx(1.0, abs=1e-5)


def exact_variational_bound(weights, bv, bh, v):
    """E_q[log p(v, h1, h2) - log q(h1, h2 | v)] of frame v, every (h1, h2) enumerated."""
    biases = numpy_biases(bv, bh)
    _, log_z = exact_log_p(weights, bv, bh)
    total = 0.0
    for h1 in states(SIZES[0]):
        for h2 in states(SIZES[1]):
            log_joint = (h2 @ biases[2][0] + softplus(h2 @ weights[2] + biases[2][1]).sum() - log_z
                         + bernoulli_log_p(h1, h2 @ weights[1].T + biases[1][0]) + bernoulli_log_p(v, h1 @ weights[0].T + bv))
            log_q = bernoulli_log_p(h1, v @ weights[0] + biases[0][1]) + bernoulli_log_p(h2, h1 @ weights[1] + biases[1][1])
            total += np.exp(log_q) * (log_joint - log_q)
    return total


def test_the_bounds_lie_below_the_exact_log_p_and_the_weighted_one_above_the_variational():
    weights, bv, bh = tiny_dbn()
    log_p, log_z = exact_log_p(weights, bv, bh)
    v = states(NV)
    exact_bound = np.array([exact_variational_bound(weights, bv, bh, frame) for frame in v])
    with tf.Graph().as_default(), tf.Session() as sess:
        ws, biases = graph_parts(weights, bv, bh, rows=len(v))
        variational, weighted = sess.run(DBN.bound(tf.constant(v), ws, biases, 4000, tf.constant(SEED)))
    variational, weighted = variational - log_z, weighted - log_z
    assert np.all(exact_bound < log_p) and np.mean(log_p - exact_bound) > 0.5   # q is not the posterior here
    np.testing.assert_allclose(variational, exact_bound, atol=0.15)             # 4,000 draws: s.e. about 0.03
    assert np.all(weighted >= variational)
    # each importance-weighted estimate lies below log p in expectation, but its weights are heavy-tailed
    # (log w up to 7.6 nats above log p on draws of probability 5e-6); their mean over 32 frames does not stray
    assert np.mean(weighted - log_p) < 0.1 and np.mean(weighted - log_p) > -0.5


def test_ais_estimates_the_top_rbms_exact_log_z():
    weights, bv, bh = tiny_dbn()
    _, log_z = exact_log_p(weights, bv, bh)
    biases = numpy_biases(bv, bh)
    W_top, (b_top, c_top) = weights[-1], biases[-1]
    with tf.Graph().as_default(), tf.Session() as sess:
        base = tf.zeros([1, SIZES[-2]])
        ais = RBM.ais_log_z(tf.constant(W_top), tf.constant(b_top[None]), tf.constant(c_top[None]), base,
                            RBM.ais_betas(1000), 500, tf.constant(SEED))
        estimate = sess.run(ais.log_z)[0]
    assert estimate == pytest.approx(log_z, abs=0.03)


def test_generation_draws_frames_from_the_dbn():
    weights, bv, bh = tiny_dbn(1, scale=1.0)
    log_p, _ = exact_log_p(weights, bv, bh)
    n = 40000
    with tf.Graph().as_default(), tf.Session() as sess:
        ws, biases = graph_parts(weights, bv, bh, rows=n)
        v_prev = tf.constant(np.tile(states(NV)[[0, 31]], [n // 2, 1]))
        drawn = sess.run(DBN.sample(v_prev, ws, biases, 50, tf.constant(SEED), fused=True))
    index = drawn.astype(int) @ (1 << np.arange(NV - 1, -1, -1))
    freq = np.bincount(index, minlength=2 ** NV) / n
    expected = np.exp(log_p)
    assert np.abs(freq - expected).max() < 4 * np.sqrt(expected.max() / n)


def test_held_units_keep_their_values_and_the_others_follow_the_exact_conditional():
    weights, bv, bh = tiny_dbn(2, scale=1.0)
    log_p, _ = exact_log_p(weights, bv, bh)
    v = states(NV)
    mask = np.array([1, 1, 0, 0, 0], np.float32)           # hold the first two units at (1, 0)
    values = np.array([1, 0, 0, 0, 0], np.float32)
    n = 4000
    with tf.Graph().as_default(), tf.Session() as sess:
        ws, biases = graph_parts(weights, bv, bh, rows=n)
        drawn = sess.run(DBN.sample_given(tf.zeros([n, NV]), ws, biases, 30, tf.constant(SEED),
                                          tf.constant(np.tile(mask, [n, 1])), tf.constant(np.tile(values, [n, 1])),
                                          particles=64, fused=True, k_from_silence=30))
    assert np.all(drawn[:, :2] == [1, 0])
    index = drawn.astype(int) @ (1 << np.arange(NV - 1, -1, -1))
    freq = np.bincount(index, minlength=2 ** NV) / n
    allowed = (v[:, 0] == 1) & (v[:, 1] == 0)
    expected = np.where(allowed, np.exp(log_p), 0.0)
    expected /= expected.sum()
    assert np.abs(freq - expected).max() < 0.03           # sampling error about 0.008; 64 particles' bias small


def test_each_layer_trains_on_the_up_pass_of_the_one_below():
    """The gradient of layer 2's gap reaches only W2 and its own biases; its data are draws of
    q(h1 | v), so a unit of h1 that q holds on is on in every one of them."""
    weights, bv, bh = tiny_dbn(3)
    bh = bh.copy()
    bh[0] = 30.0                                            # c_1's first unit: always on in the up-pass
    with tf.Graph().as_default(), tf.Session() as sess:
        ws = [tf.Variable(W) for W in weights]
        b_v, b_h = tf.Variable(bv), tf.Variable(bh)
        biases = DBN.split_biases(b_v, b_h, SIZES)
        v = tf.constant(states(NV))
        gaps = DBN.layer_gaps(v, ws, biases, 1, tf.constant(SEED))
        xs = DBN.up_pass(v, ws, biases, tf.constant(SEED))
        sess.run(tf.global_variables_initializer())
        g = tf.gradients(gaps[1], [ws[0], ws[1], ws[2], b_v, b_h])
        assert g[0] is None and g[2] is None and g[3] is None
        g_bh = sess.run(g[4])
        assert np.all(g_bh[:SIZES[0]] == 0) and np.all(g_bh[SIZES[0] + SIZES[0] + SIZES[1]:] == 0)
        assert np.any(g_bh[SIZES[0]:SIZES[0] + SIZES[0] + SIZES[1]] != 0)
        assert np.all(sess.run(xs[1])[:, 0] == 1)


def tiny_rbm(nv=3, nh=4, seed=1, scale=1.5):
    """(W, bv, bh, Wuh, Wuv) of a small RBM with strong weights, and its exact log p of every frame."""
    rng = np.random.default_rng(seed)
    W = rng.normal(0, scale, (nv, nh)).astype(np.float32)
    bv, bh = rng.normal(0, 1, nv).astype(np.float32), rng.normal(0, 1, nh).astype(np.float32)
    Wuh, Wuv = rng.normal(0, 1, (2, nh)).astype(np.float32), rng.normal(0, 1, (2, nv)).astype(np.float32)
    v = states(nv)
    log_unnormalised = v @ bv + softplus(v @ W + bh).sum(1)
    return (W, bv, bh, Wuh, Wuv), log_unnormalised - np.logaddexp.reduce(log_unnormalised)


@pytest.mark.parametrize("sizes", [(4, 3), (4, 3, 4), (4, 5, 6)])
def test_a_dbn_stacked_on_an_rbm_starts_at_its_log_p_and_its_bound_is_exact(sizes):
    (W, bv, bh, Wuh, Wuv), rbm_log_p = tiny_rbm()
    stacked_bh, stacked_Wuh, upper = DBN.stack(W, bv, bh, Wuh, Wuv, sizes, np.random.default_rng(0), pad_std=0.0)
    weights = [W, *upper]
    assert stacked_bh.shape == (DBN.bias_width(sizes),) and stacked_Wuh.shape == (2, DBN.bias_width(sizes))
    log_p, log_z = exact_log_p(weights, bv, stacked_bh, sizes)
    np.testing.assert_allclose(log_p, rbm_log_p, atol=1e-4)
    # the up-pass is the exact posterior: every draw's log p*(v, h) - log q(h | v) is log p(v) + log Z
    v = states(3)
    with tf.Graph().as_default(), tf.Session() as sess:
        biases = DBN.split_biases(tf.constant(bv), tf.constant(stacked_bh), sizes)
        variational, _ = sess.run(DBN.bound(tf.constant(v), [tf.constant(w) for w in weights], biases, 5,
                                            tf.constant(SEED)))
    np.testing.assert_allclose(variational - log_z, rbm_log_p, atol=1e-4)
    # the RNN sets the stacked biases as it set the RBM's: the same u moves them alike
    u = np.array([0.3, -1.2], np.float32)
    moved, _, _ = DBN.stack(W, bv + u @ Wuv, bh + u @ Wuh, Wuh, Wuv, sizes, np.random.default_rng(0), pad_std=0.0)
    np.testing.assert_allclose(moved, stacked_bh + u @ stacked_Wuh, atol=1e-5)


def test_stacking_pads_a_wider_layer_with_small_weights_and_refuses_a_narrower_one():
    (W, bv, bh, Wuh, Wuv), rbm_log_p = tiny_rbm()
    stacked_bh, _, upper = DBN.stack(W, bv, bh, Wuh, Wuv, (4, 5), np.random.default_rng(0))
    assert np.all(upper[0][:, 3:] != 0) and np.abs(upper[0][:, 3:]).max() < 0.01
    np.testing.assert_allclose(exact_log_p([W, *upper], bv, stacked_bh, (4, 5))[0], rbm_log_p, atol=1e-3)
    with pytest.raises(ValueError, match="at least 3"):
        DBN.stack(W, bv, bh, Wuh, Wuv, (4, 2), np.random.default_rng(0))
    with pytest.raises(ValueError, match="--dbn-layers starting at 4"):
        DBN.stack(W, bv, bh, Wuh, Wuv, (5, 5), np.random.default_rng(0))


def test_a_stacked_dbn_generates_as_its_rbm_does_from_the_same_start():
    """A DBN stacked on an RBM draws frames as the RBM's own chain does: k steps of the top chain
    and the down-pass are k + 1 of the RBM's steps, both from the previous frame with the biases'
    notes added (RBM.spread_start). With the chain far from mixed, the start decides the frames."""
    (W, bv, bh, Wuh, Wuv), _ = tiny_rbm(scale=3.0)               # strong weights: a slow chain
    bv, bh = np.array([3.0, -3.0, -3.0], np.float32), bh - 2.0         # the start's notes differ from silence's
    sizes = (4, 3)
    stacked_bh, _, upper = DBN.stack(W, bv, bh, Wuh, Wuv, sizes, np.random.default_rng(0), pad_std=0.0)
    n = 40000
    silence = np.zeros((n, 3), np.float32)
    with tf.Graph().as_default(), tf.Session() as sess:
        biases = DBN.split_biases(tf.constant(np.tile(bv, (n, 1))), tf.constant(np.tile(stacked_bh, (n, 1))), sizes)
        dbn = sess.run(DBN.sample(tf.constant(silence), [tf.constant(W), *map(tf.constant, upper)], biases, 1,
                                  tf.constant(SEED)))
        rbm = sess.run(RBM.generation_sample(tf.constant(silence), tf.constant(W), tf.constant(np.tile(bv, (n, 1))),
                                             tf.constant(np.tile(bh, (n, 1))), 2, tf.constant(SEED + 1)))
    freq = [np.bincount(x.astype(int) @ [4, 2, 1], minlength=8) / n for x in (dbn, rbm)]
    assert np.abs(freq[0] - freq[1]).max() < 4 * np.sqrt(0.5 / n)
