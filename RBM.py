"""Restricted Boltzmann machine maths, as TF1 graph pieces.

Every function takes the parameters explicitly. The biases ``bv`` and ``bh`` may be vectors
(``[n_visible]``, ``[n_hidden]``) shared by every row, or matrices (``[batch, n_visible]``,
``[batch, n_hidden]``) that give each row its own biases, as the RNN-RBM does.

Random draws are stateless: each one is a function of an explicit ``seed`` (an int64 tensor
of shape [2]), so a run can be replayed exactly, resumed from a checkpoint, and tested.
A Gibbs chain of k steps uses the seeds ``seed + [0, j]`` for ``j < 2 k``; callers keep
their seeds ``SEED_STRIDE`` apart.
"""
import collections

import numpy as np
import tensorflow.compat.v1 as tf

GibbsStep = collections.namedtuple("GibbsStep", ["h_prob", "h", "v_prob", "v"])

SEED_STRIDE = 1 << 16   # seeds a Gibbs chain may use after its own: k < SEED_STRIDE / 2


def run_seed(seed, run_index):
    """The [2] int64 seed (a NumPy array, to feed) of the `run_index`-th session run of a job seeded `seed`."""
    return np.array([seed, run_index * SEED_STRIDE], np.int64)


def offset_seed(seed, offset):
    """seed + [0, offset] for an int64 [2] seed."""
    return seed + tf.stack([tf.constant(0, tf.int64), tf.cast(offset, tf.int64)])


def sample_bernoulli(probs, seed):
    """One 0/1 draw per entry of `probs`, a function of `seed` ([2] int64)."""
    uniform = tf.random.stateless_uniform(tf.shape(probs), seed, dtype=probs.dtype)
    return tf.cast(uniform < probs, probs.dtype)


def gibbs_step(v, W, bv, bh, seed):
    """One step of block Gibbs sampling v -> h -> v'. v: [batch, n_visible]. Uses seed and seed + [0, 1]."""
    h_prob = tf.sigmoid(tf.matmul(v, W) + bh)                       # [batch, n_hidden]
    h = sample_bernoulli(h_prob, seed)
    v_prob = tf.sigmoid(tf.matmul(h, W, transpose_b=True) + bv)     # [batch, n_visible]
    return GibbsStep(h_prob, h, v_prob, sample_bernoulli(v_prob, offset_seed(seed, 1)))


def gibbs_sample(v, W, bv, bh, k, seed):
    """Run k Gibbs steps from v; no gradient flows through the sample."""
    def body(i, v_i):
        return i + 1, gibbs_step(v_i, W, bv, bh, offset_seed(seed, 2 * i)).v

    _, v_k = tf.while_loop(lambda i, v_i: i < k, body, [tf.constant(0), v], back_prop=False)
    return tf.stop_gradient(v_k)


def free_energy(v, W, bv, bh):
    """F(v) = -v.bv - sum_j softplus((v W + bh)_j), one value per row: [batch]."""
    return -tf.reduce_sum(v * bv, axis=1) - tf.reduce_sum(tf.nn.softplus(tf.matmul(v, W) + bh), axis=1)


def cd_loss(v, W, bv, bh, k, seed, weights=None):
    """Contrastive-divergence loss: mean of F(v) - F(v*) with v* drawn by k Gibbs steps from v.

    Its gradient is the CD-k update. `weights` ([batch], optional) masks rows out of the mean.
    """
    v_sample = gibbs_sample(v, W, bv, bh, k, seed)
    gap = free_energy(v, W, bv, bh) - free_energy(v_sample, W, bv, bh)   # [batch]
    if weights is None:
        return tf.reduce_mean(gap)
    return tf.reduce_sum(gap * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)
