"""The RBM maths against plain NumPy: free energy, Gibbs steps, CD, random draws, and AIS and RAISE against exact log Z."""
import itertools

import numpy as np
import pytest

import RBM
from tf1 import tf

def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def np_free_energy(v, W, bv, bh):
    return -(v * bv).sum(1) - np.logaddexp(0, v @ W + bh).sum(1)


def random_rbm(rng, nv=7, nh=5, rows=6, row_biases=True):
    W = rng.normal(0, 1, (nv, nh)).astype(np.float32)
    shape_v, shape_h = ((rows, nv), (rows, nh)) if row_biases else ((nv,), (nh,))
    bv = rng.normal(0, 1, shape_v).astype(np.float32)
    bh = rng.normal(0, 1, shape_h).astype(np.float32)
    v = (rng.random((rows, nv)) < 0.5).astype(np.float32)
    return v, W, bv, bh


SEED = np.array([1, 2], np.int64)


def run(fetch):
    with tf.Session() as sess:
        return sess.run(fetch)


def test_free_energy_uses_each_rows_own_biases():
    with tf.Graph().as_default():
        v, W, bv, bh = random_rbm(np.random.default_rng(1))
        got = run(RBM.free_energy(tf.constant(v), W, bv, bh))
    assert got.shape == (6,)                       # one value per row, not a [rows, rows] matrix
    np.testing.assert_allclose(got, np_free_energy(v, W, bv, bh), rtol=1e-5)


def test_free_energy_with_shared_biases():
    with tf.Graph().as_default():
        v, W, bv, bh = random_rbm(np.random.default_rng(2), row_biases=False)
        np.testing.assert_allclose(run(RBM.free_energy(tf.constant(v), W, bv, bh)),
                                   np_free_energy(v, W, bv, bh), rtol=1e-5)


def test_gibbs_step_probabilities():
    with tf.Graph().as_default():
        v, W, bv, bh = random_rbm(np.random.default_rng(3))
        step = run(RBM.gibbs_step(tf.constant(v), W, bv, bh, SEED))
    np.testing.assert_allclose(step.h_prob, sigmoid(v @ W + bh), rtol=1e-5)
    assert set(np.unique(step.h)) <= {0.0, 1.0}
    np.testing.assert_allclose(step.v_prob, sigmoid(step.h @ W.T + bv), rtol=1e-5)
    assert set(np.unique(step.v)) <= {0.0, 1.0}


def test_samples_follow_their_probabilities():
    with tf.Graph().as_default():
        p = np.linspace(0.05, 0.95, 10).astype(np.float32)
        draws = run(RBM.sample_bernoulli(tf.constant(np.tile(p, (20000, 1))), SEED))
    np.testing.assert_allclose(draws.mean(0), p, atol=0.015)


def test_gibbs_chain_reaches_the_rbm_distribution():
    # 3 visible units: compare the chain's long-run visible frequencies with exact enumeration
    rng = np.random.default_rng(4)
    _, W, bv, bh = random_rbm(rng, nv=3, nh=2, row_biases=False)
    states = np.array([[(i >> j) & 1 for j in range(3)] for i in range(8)], np.float32)
    exact = np.exp(-np_free_energy(states, W, bv, bh))
    exact /= exact.sum()
    with tf.Graph().as_default():
        v0 = tf.zeros([20000, 3])
        sample = run(RBM.gibbs_sample(v0, W, bv, bh, 50, SEED))
    index = (sample * [1, 2, 4]).sum(1).astype(int)
    np.testing.assert_allclose(np.bincount(index, minlength=8) / len(index), exact, atol=0.015)


def test_cd_loss_gradient_is_the_cd_update():
    # d/dW mean(F(v) - F(v*)) = -(v' p(h|v) - v*' p(h|v*)) / n, with the sample held fixed
    with tf.Graph().as_default():
        tf.set_random_seed(5)
        v, W0, bv0, bh0 = random_rbm(np.random.default_rng(5), row_biases=False)
        W, bv, bh = tf.Variable(W0), tf.Variable(bv0), tf.Variable(bh0)
        v_sample = RBM.gibbs_sample(tf.constant(v), W, bv, bh, 3, SEED)
        loss = tf.reduce_mean(RBM.free_energy(tf.constant(v), W, bv, bh) - RBM.free_energy(v_sample, W, bv, bh))
        grads = tf.gradients(loss, [W, bv, bh])
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            vs, (gW, gbv, gbh) = sess.run([v_sample, grads])
    n = len(v)
    h, hs = sigmoid(v @ W0 + bh0), sigmoid(vs @ W0 + bh0)
    np.testing.assert_allclose(gW, -(v.T @ h - vs.T @ hs) / n, atol=1e-5)
    np.testing.assert_allclose(gbv, -(v - vs).mean(0), atol=1e-5)
    np.testing.assert_allclose(gbh, -(h - hs).mean(0), atol=1e-5)


def test_masked_cd_loss_ignores_padded_rows():
    with tf.Graph().as_default():
        tf.set_random_seed(6)
        v, W, bv, bh = random_rbm(np.random.default_rng(6), row_biases=False)
        weights = np.array([1, 1, 1, 0, 0, 0], np.float32)
        garbage = v.copy()
        garbage[3:] = 1.0 - garbage[3:]
        x = tf.placeholder(tf.float32, [None, 7])
        loss = RBM.cd_loss(x, W, bv, bh, 0, SEED, weights=weights)   # k=0: v* = v, so the loss is exactly 0 ...
        loss1 = RBM.cd_loss(x, W, bv, bh, 1, SEED, weights=weights)
        with tf.Session() as sess:
            assert sess.run(loss, {x: v}) == 0.0
        # ... and with k=1 the masked rows must not change the value for the same draws
        with tf.Session() as sess:
            a = sess.run(loss1, {x: v})
        with tf.Session() as sess:
            b = sess.run(loss1, {x: garbage})
    assert np.isfinite(a) and a == b


def test_draws_are_a_function_of_the_seed():
    with tf.Graph().as_default():
        probs = tf.fill([4, 100], 0.5)
        a, b, c = run([RBM.sample_bernoulli(probs, SEED), RBM.sample_bernoulli(probs, SEED),
                       RBM.sample_bernoulli(probs, RBM.offset_seed(SEED, 1))])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fused_uniforms_are_uniform_and_independent():
    # the counter-based hash: flat histogram, no correlation between neighbours, the two halves
    # of one hash, or two seeds one apart
    with tf.Graph().as_default():
        like = tf.zeros([2000, 780])
        a, b = run([RBM.uniform16(like, SEED), RBM.uniform16(like, RBM.offset_seed(SEED, 1))])
    assert a.min() >= 0 and a.max() <= 65535 and np.all(a == np.round(a))
    counts = np.bincount((a // 4096).astype(int).ravel(), minlength=16)
    expected = a.size / 16
    assert ((counts - expected) ** 2 / expected).sum() < 50          # chi-square, 15 d.o.f.: 50 is p < 1e-5
    z = (a - 32767.5) / 18918.6                                       # standardised: mean 0, sd 1
    zb = (b - 32767.5) / 18918.6
    for x, y in ((z[:, :-1], z[:, 1:]), (z[:-1], z[1:]), (z[:, :390], z[:, 390:]), (z, zb)):
        assert abs((x * y).mean()) < 0.005                            # about 4 standard errors at this size
    assert abs(z.mean()) < 0.005 and abs(z.std() - 1) < 0.005


def test_fused_and_unfused_draws_follow_the_sigmoid():
    bv = np.linspace(-3, 3, 13).astype(np.float32)
    W = np.zeros((13, 4), np.float32)
    with tf.Graph().as_default():
        v = tf.zeros([20000, 13])
        fused, unfused = run([RBM.gibbs_step(v, W, bv, np.zeros(4, np.float32), SEED, fused).v for fused in (True, False)])
    for draws in (fused, unfused):
        np.testing.assert_allclose(draws.mean(0), sigmoid(bv), atol=0.015)


@pytest.mark.parametrize("blocks", [2, 3])
def test_chains_in_blocks_draw_as_one_chain(blocks):
    rng = np.random.default_rng(8)
    v, W, bv, bh = random_rbm(rng, nv=9, nh=4, rows=50)
    with tf.Graph().as_default():
        one, cut = run([RBM.gibbs_sample(tf.constant(v), W, bv, bh, 4, SEED, blocks=b) for b in (1, blocks)])
    np.testing.assert_array_equal(one, cut)
    assert 0.1 < one.mean() < 0.9


def every_state(W, bv, bh):
    """(states, -F(states)): every visible state of an RBM and its unnormalised log-probability."""
    states = np.array(list(itertools.product([0, 1], repeat=len(bv))), np.float64)
    return states, states @ bv + np.logaddexp(0, states @ W + bh).sum(1)


def exact_log_z(W, bv, bh):
    """log Z of an RBM by enumerating every visible state, hidden units summed out."""
    neg_free = every_state(W, bv, bh)[1]
    top = neg_free.max()
    return top + np.log(np.exp(neg_free - top).sum())


def block_rbm(weight, visible_bias, hidden_biases):
    """An 8-key RBM whose two hidden units each switch on four keys (the low four, the high four):
    modes at silence and at each block, as sharp as `weight` makes them. (W, bv [1, 8], bh [1, 2])."""
    W = np.zeros((8, 2), np.float32)
    W[:4, 0], W[4:, 1] = weight, weight
    return W, np.full((1, 8), visible_bias, np.float32), np.array([hidden_biases], np.float32)


def small_rbms(rows=4, n_visible=10, n_hidden=16):
    """(W, bv, bh, v): the RBMs of `rows` rows sharing W, and one visible state per row."""
    rng = np.random.default_rng(0)
    W = rng.normal(0, 0.6, (n_visible, n_hidden)).astype(np.float32)
    bv = rng.normal(-1, 1, (rows, n_visible)).astype(np.float32)
    bh = rng.normal(0, 1, (rows, n_hidden)).astype(np.float32)
    return W, bv, bh, (rng.random((rows, n_visible)) < 0.3).astype(np.float32)


def anneal(W, bv, bh, n_betas, chains, seed, v=None):
    """AIS, and RAISE for frames `v` when given, from the AIS base of rnn_rbm_evaluate (marginals
    of 10 Gibbs chains of 25 steps from silence), run in a fresh graph: (Ais, (log_p, se) or ())."""
    with tf.Graph().as_default():
        seed = tf.constant([seed, 0], tf.int64)
        base = RBM.marginal_base(RBM.gibbs_marginals(np.zeros_like(bv), W, bv, bh, 25, 10, seed))
        betas, chain_seed = RBM.ais_betas(n_betas), RBM.offset_seed(seed, 51)
        ais = RBM.ais_log_z(W, bv, bh, base, betas, chains, chain_seed)
        raised = () if v is None else RBM.raise_log_p(v, W, bv, bh, base, betas, chains, chain_seed)
        with tf.Session() as sess:
            return sess.run((ais, raised))


def test_ais_matches_exact_log_z_of_small_rbms():
    W, bv, bh, _ = small_rbms()
    exact = np.array([exact_log_z(W.astype(np.float64), bv[r], bh[r]) for r in range(len(bv))])
    ais, _ = anneal(W, bv, bh, 1000, 200, 3)
    np.testing.assert_allclose(ais.log_z, exact, atol=0.02)
    assert np.all(ais.std_error < 0.02) and np.all(ais.std_error > 0)


def exact_log_p(v, W, bv, bh):
    return v @ bv + np.logaddexp(0, v @ W + bh).sum() - exact_log_z(W, bv, bh)


def test_raise_matches_exact_log_p_of_small_rbms():
    W, bv, bh, v = small_rbms()
    exact = [exact_log_p(v[r], W.astype(np.float64), bv[r], bh[r]) for r in range(len(bv))]
    _, (log_p, se) = anneal(W, bv, bh, 1000, 200, 3, v)
    np.testing.assert_allclose(log_p, exact, atol=0.02)
    assert np.all(se < 0.02) and np.all(se > 0)


def test_raise_and_ais_bracket_the_log_p_of_a_sharp_rbm():
    # sharp modes and 20 temperatures: far from converged, AIS misses mass (log-likelihood too
    # high) and RAISE errs low
    W, bv, bh = block_rbm(10.0, -5.0, [-20.0, -21.0])
    v = np.array([[1, 1, 1, 1, 0, 0, 0, 0]], np.float32)
    exact = exact_log_p(v[0], W.astype(np.float64), bv[0], bh[0])
    ais, (log_p, _) = anneal(W, bv, bh, 20, 100, 3, v)
    ais_log_p = exact + exact_log_z(W.astype(np.float64), bv[0], bh[0]) - ais.log_z[0]
    assert log_p[0] < exact - 1 and ais_log_p > exact + 0.3


def test_ais_temperatures_rise_from_0_to_1_dense_near_1():
    betas = RBM.ais_betas(1000)
    assert len(betas) == 1001 and betas[0] == 0 and betas[-1] == 1 and np.all(np.diff(betas) > 0)
    assert (betas >= 0.9).sum() > 600 and (betas < 0.5).sum() < 50
    assert len(RBM.ais_betas(3)) >= 3 and RBM.ais_betas(3)[-1] == 1


def test_ais_log_z_of_the_base_model_is_exact():
    # with W = 0 every temperature is the base model: every weight is 1 and the estimate is exact
    rng = np.random.default_rng(1)
    bv = rng.normal(0, 1, (2, 6)).astype(np.float32)
    bh = np.zeros((2, 3), np.float32)
    W = np.zeros((6, 3), np.float32)
    with tf.Graph().as_default():
        ais = RBM.ais_log_z(W, bv, bh, bv, np.linspace(0, 1, 11), 5, np.array([0, 0], np.int64))
        with tf.Session() as sess:
            log_z, se = sess.run([ais.log_z, ais.std_error])
    np.testing.assert_allclose(log_z, [exact_log_z(W, bv[r], bh[r]) for r in range(2)], rtol=1e-5)
    np.testing.assert_allclose(se, 0, atol=1e-6)


def test_a_generated_rows_chain_starts_at_the_previous_row_with_the_biases_notes_added():
    rng = np.random.default_rng(3)
    v, W, bv, _ = random_rbm(rng, rows=4)
    bv = np.where(np.arange(7) < 3, 50.0, -50.0).astype(np.float32) + 0 * bv     # units 0-2 surely on, the rest off
    bh = np.zeros((4, 5), np.float32)
    start = run(RBM.generation_sample(tf.constant(v), tf.constant(W), tf.constant(bv), tf.constant(bh), 0,
                                      tf.constant(SEED)))
    np.testing.assert_array_equal(start, np.maximum(v, (np.arange(7) < 3)[None]))   # k = 0 steps: the start itself


def test_a_chain_from_silence_takes_k_from_silence_steps_and_leaves_it():
    """The shipped Nottingham RNN-RBM's first row, from u0: 25 Gibbs steps from silence leave most
    chains at 0 or 1 notes (the collapse the songs showed); from the same start the longer chain
    reaches the 3 notes or more that its stationary distribution has (docs/music.md)."""
    import checkpoints
    import os
    ck = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "parameter_checkpoints", "benchmarks", "nottingham_paper.ckpt")
    if not checkpoints.exists(ck):
        pytest.skip("parameter_checkpoints/benchmarks/nottingham_paper.ckpt is not in this checkout")
    reader = tf.train.load_checkpoint(ck)
    W, bv, bh, Wuv, Wuh, u0 = (reader.get_tensor(n) for n in ("W", "bv", "bh", "Wuv", "Wuh", "u0"))
    n = 300
    bv_t, bh_t = np.tile(bv + u0 @ Wuv, (n, 1)), np.tile(bh + u0 @ Wuh, (n, 1))
    silence = np.zeros_like(bv_t)
    voices = {}
    for name, k_from_silence in (("short", 0), ("long", 1000)):
        drawn = run(RBM.generation_sample(tf.constant(silence), tf.constant(W), tf.constant(bv_t), tf.constant(bh_t),
                                          25, tf.constant(SEED), fused=False, k_from_silence=k_from_silence))
        voices[name] = drawn.sum(1)
    plain = run(RBM.gibbs_sample(tf.constant(silence), tf.constant(W), tf.constant(bv_t), tf.constant(bh_t), 25,
                                 tf.constant(SEED), fused=False)).sum(1)
    assert plain.mean() < 1.5 and (plain <= 1).mean() > 0.6          # the collapse
    assert voices["long"].mean() > 2.5 and (voices["long"] <= 1).mean() < 0.4
    assert voices["long"].mean() > voices["short"].mean() + 0.5
