"""Restricted Boltzmann machine maths, as TF1 graph pieces.

Every function takes the parameters explicitly. The biases ``bv`` and ``bh`` may be vectors
(``[n_visible]``, ``[n_hidden]``) shared by every row, or matrices (``[batch, n_visible]``,
``[batch, n_hidden]``) that give each row its own biases, as the RNN-RBM does.
"""
import collections

import tensorflow.compat.v1 as tf

GibbsStep = collections.namedtuple("GibbsStep", ["h_prob", "h", "v_prob", "v"])


def sample_bernoulli(probs):
    """One 0/1 draw per entry of `probs`."""
    return tf.cast(tf.random.uniform(tf.shape(probs), dtype=probs.dtype) < probs, probs.dtype)


def gibbs_step(v, W, bv, bh):
    """One step of block Gibbs sampling v -> h -> v'. v: [batch, n_visible]."""
    h_prob = tf.sigmoid(tf.matmul(v, W) + bh)                       # [batch, n_hidden]
    h = sample_bernoulli(h_prob)
    v_prob = tf.sigmoid(tf.matmul(h, W, transpose_b=True) + bv)     # [batch, n_visible]
    return GibbsStep(h_prob, h, v_prob, sample_bernoulli(v_prob))


def gibbs_sample(v, W, bv, bh, k):
    """Run k Gibbs steps from v; no gradient flows through the sample."""
    def body(i, v_i):
        return i + 1, gibbs_step(v_i, W, bv, bh).v

    _, v_k = tf.while_loop(lambda i, v_i: i < k, body, [tf.constant(0), v], back_prop=False)
    return tf.stop_gradient(v_k)


def free_energy(v, W, bv, bh):
    """F(v) = -v.bv - sum_j softplus((v W + bh)_j), one value per row: [batch]."""
    return -tf.reduce_sum(v * bv, axis=1) - tf.reduce_sum(tf.nn.softplus(tf.matmul(v, W) + bh), axis=1)


def cd_loss(v, W, bv, bh, k, weights=None):
    """Contrastive-divergence loss: mean of F(v) - F(v*) with v* drawn by k Gibbs steps from v.

    Its gradient is the CD-k update. `weights` ([batch], optional) masks rows out of the mean.
    """
    v_sample = gibbs_sample(v, W, bv, bh, k)
    gap = free_energy(v, W, bv, bh) - free_energy(v_sample, W, bv, bh)   # [batch]
    if weights is None:
        return tf.reduce_mean(gap)
    return tf.reduce_sum(gap * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)
