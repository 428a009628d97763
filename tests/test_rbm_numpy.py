"""The RBM maths against plain NumPy."""
import numpy as np
import tensorflow.compat.v1 as tf

import RBM


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
