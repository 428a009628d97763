"""Neural autoregressive distribution estimator (Larochelle & Murray 2011), as TF1 graph pieces:
the per-frame distribution of the RNN-NADE (Boulanger-Lewandowski et al. 2012).

The units of a frame v are taken in order, lowest first. Unit i is on with probability

    p(v_i = 1 | v_<i) = sigmoid(b_i + V[:, i] . h_i),    h_i = sigmoid(c + sum_{j<i} v_j W[j])

so log p(v) is exact and so is its gradient: no partition function, no contrastive divergence.
W is [n_visible, n_hidden] (as the RBM's) and V is [n_hidden, n_visible]. The biases b
([n_visible]) and c ([n_hidden]) may be vectors or, as in the RNN-NADE, one row per frame
([batch, n_visible], [batch, n_hidden]). Random draws are stateless, as in RBM.py.

Every function takes the parameters explicitly and only builds graph pieces.
"""
import numpy as np

from tf1 import tf


BLOCK = 16   # units per block of logits(): at most this many


def logits(v, W, V, b, c):
    """log-odds of p(v_i = 1 | v_<i) for every unit of every frame v ([batch, n_visible]).

    The sums c + sum_{j<i} v_j W[j] of all units at once, in blocks of consecutive units: within
    a block by a matmul with a strictly lower-triangular mask, across blocks by a cumulative
    sum of the blocks' totals. Both are matmul-shaped work, where tf.cumsum over the units of a
    [batch, n_visible, n_hidden] tensor is several times slower on a CPU (benchmark.py, models).
    """
    nv, nh = (int(d) for d in W.shape)
    blocks = -(-nv // BLOCK)
    size = -(-nv // blocks)
    pad = blocks * size - nv                                                  # units past the last, never read
    rows = tf.shape(v)[0]
    padded = lambda a: tf.pad(a, [[0, 0], [0, pad]])
    v_b = tf.transpose(tf.reshape(padded(v), [rows, blocks, size]), [1, 0, 2])          # [blocks, batch, size]
    W_b = tf.reshape(tf.transpose(padded(tf.transpose(W))), [blocks, size, nh])         # [blocks, size, nh]
    earlier = tf.constant(np.tril(np.ones((size, size), np.float32), -1))              # [i, j]: 1 where j < i
    within = tf.matmul(tf.reshape(v_b[:, :, None, :] * earlier, [blocks, -1, size]), W_b)  # [blocks, batch * size, nh]
    before = tf.cumsum(tf.matmul(v_b, W_b), axis=0, exclusive=True) + c                # [blocks, batch, nh]
    h = tf.sigmoid(tf.reshape(within, [blocks, rows, size, nh]) + before[:, :, None, :])
    V_b = tf.reshape(padded(V), [nh, blocks, 1, size])                                  # V_b[:, k, 0, i] = V[:, k * size + i]
    out = tf.reduce_sum(h * tf.transpose(V_b, [1, 2, 3, 0]), -1)                        # [blocks, batch, size]
    return b + tf.reshape(tf.transpose(out, [1, 0, 2]), [rows, blocks * size])[:, :nv]


def log_prob(v, W, V, b, c):
    """log p(v) of every frame v ([batch, n_visible]), exact: [batch]."""
    return -tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=v, logits=logits(v, W, V, b, c)), -1)


def sample(W, V, b, c, seed, n=None):
    """One frame per row of the biases, drawn unit by unit, lowest first: [batch, n_visible].

    b and c hold a row per frame ([batch, n_visible], [batch, n_hidden]); with vector biases
    give the number of frames `n`. The draws use the uniforms of `seed` (int64 [2]), one per unit.
    """
    if b.shape.rank == 1:
        b, c = tf.tile(b[None], [n, 1]), tf.tile(c[None], [n, 1])
    uniforms = tf.random.stateless_uniform(tf.shape(b), seed)                  # [batch, nv]
    # time-major over the units: unit i's bias, uniform, row of W and column of V
    per_unit = (tf.transpose(b), tf.transpose(uniforms), W, tf.transpose(V))

    def step(carry, unit):
        a, _ = carry                                                          # [batch, nh]: c + sum_{j<i} v_j W[j]
        b_i, u_i, W_i, V_i = unit
        p_i = tf.sigmoid(b_i + tf.linalg.matvec(tf.sigmoid(a), V_i))          # [batch]
        v_i = tf.cast(u_i < p_i, tf.float32)
        return a + v_i[:, None] * W_i, v_i

    _, v = tf.scan(step, per_unit, initializer=(c, tf.zeros(tf.shape(b)[:1])), back_prop=False)   # [nv, batch]
    return tf.transpose(v)
