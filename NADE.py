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


BLOCK = 8    # units per block of logits_by_blocks(), at most: 8 and 16 time alike here, 8 a little ahead
LEVELS_COST = 0.56  # logits_by_levels' time per K (3 nv + nh) over logits_by_blocks' per nv nh, as timed here


def logits(v, W, V, b, c, form=None):
    """log-odds of p(v_i = 1 | v_<i) for every unit of every binary frame v ([batch, n_visible]).

    Two forms compute it: logits_by_levels, whose cost grows with K, the most units on in a
    frame of the batch, and logits_by_blocks, whose cost does not. Each batch takes the cheaper
    (form None), or `form` ('levels' or 'blocks') says which. By levels is the faster one at
    the paper preset (K = 5 on JSB, 88 units, 150 hidden: 10 against 117 ms for 800 frames,
    docs/performance.md); at the original preset (K = 33 on the default chorales, 780 units,
    50 hidden) the two are about level, and with denser frames the blocks win.
    """
    nv, nh = (int(d) for d in W.shape)
    by_levels = lambda: logits_by_levels(v, W, V, b, c)
    by_blocks = lambda: logits_by_blocks(v, W, V, b, c)
    if form is not None:
        return {"levels": by_levels, "blocks": by_blocks}[form]()
    most_on = tf.maximum(tf.reduce_max(tf.reduce_sum(v, -1)), 0.0)        # 0 for no frames
    return tf.cond(LEVELS_COST * (most_on + 1.0) * (3 * nv + nh) < nv * nh, by_levels, by_blocks)


def logits_by_levels(v, W, V, b, c):
    """logits(), per level: the hidden units h_i change only where a unit below i is on, so a
    frame with k units on has k + 1 distinct hidden vectors, one per level, the level of unit i
    being the number of units on below it. The hidden vectors are computed per level (K per
    frame, one more than the most units on in any frame of the batch), each unit's log-odds
    V[:, i] . h for every level, and each unit takes its own level's: [batch, K, n_hidden] and
    [batch, K, n_visible] tensors where the textbook form has a [batch, n_visible, n_hidden]
    one. The hidden units are computed as sigmoid(a) = (1 + tanh(a / 2)) / 2, the halves and
    the constant folded into W, c, b and V.
    """
    level = tf.cumsum(v, axis=-1, exclusive=True)                                 # [batch, nv]: units on below i
    levels = tf.range(tf.maximum(tf.reduce_max(level[:, -1] + v[:, -1]), 0.0) + 1.0)      # [K]: 0 .. the most on
    below = v[:, None, :] * tf.cast(level[:, None, :] < levels[None, :, None], v.dtype)      # [batch, K, nv]:
    half_c = 0.5 * (c[:, None, :] if c.shape.rank == 2 else c)                   # 1 where unit j is one of the first k on
    t = tf.tanh(tf.tensordot(below, 0.5 * W, 1) + half_c)                        # [batch, K, nh]: 2 h - 1 per level
    per_level = tf.tensordot(t, 0.5 * V, 1)                                        # [batch, K, nv]
    own = tf.cast(tf.equal(level[:, None, :], levels[None, :, None]), v.dtype)    # [batch, K, nv]: unit i's level
    return b + 0.5 * tf.reduce_sum(V, 0) + tf.reduce_sum(per_level * own, 1)


def logits_by_blocks(v, W, V, b, c):
    """logits(), in blocks of units. The sums c + sum_{j<i} v_j W[j] of all units at once, in
    blocks of consecutive units: within a block by a matmul with a strictly lower-triangular
    mask, across blocks by a matmul of the blocks' totals with another. Every large step is a
    matmul, laid out unit-major ([units, batch, n_hidden]) so that the dot products with V and
    their gradients are batched matmuls too: tf.cumsum and broadcast products over a
    [batch, units, n_hidden] tensor are several times slower on a CPU (docs/performance.md).
    The hidden units are computed as sigmoid(a) = (1 + tanh(a / 2)) / 2, with the halves and
    the constant folded into the small tensors (W, c, b), because tanh over the large one is
    twice as fast here as sigmoid.
    """
    nv, nh = (int(d) for d in W.shape)
    blocks = -(-nv // BLOCK)
    size = -(-nv // blocks)
    units = blocks * size                                                     # the last pad units are never read
    rows = tf.shape(v)[0]
    padded = lambda a: tf.pad(a, [[0, 0], [0, units - nv]])
    strictly_lower = lambda n: tf.constant(np.tril(np.ones((n, n), np.float32), -1))     # [i, j]: 1 where j < i
    v_b = tf.transpose(tf.reshape(padded(v), [rows, blocks, size]), [1, 0, 2])          # [blocks, batch, size]
    W_b = tf.reshape(tf.transpose(padded(tf.transpose(0.5 * W))), [blocks, size, nh])   # [blocks, size, nh], halved
    masked = v_b[:, None, :, :] * strictly_lower(size)[None, :, None, :]                # [blocks, i, batch, j]
    within = tf.matmul(tf.reshape(masked, [blocks, size * rows, size]), W_b)            # [blocks, size * batch, nh]
    totals = tf.reshape(tf.matmul(v_b, W_b), [blocks, -1])                               # [blocks, batch * nh]
    before = tf.reshape(tf.matmul(strictly_lower(blocks), totals), [blocks, 1, rows, nh]) + 0.5 * c
    t = tf.tanh(tf.reshape(within, [blocks, size, rows, nh]) + before)                 # [blocks, size, batch, nh]: 2 h - 1
    out = tf.matmul(tf.reshape(t, [units, rows, nh]), tf.transpose(padded(0.5 * V))[:, :, None])   # [units, batch, 1]
    return b + 0.5 * tf.reduce_sum(V, 0) + tf.transpose(out[:, :, 0])[:, :nv]


def log_prob(v, W, V, b, c, form=None):
    """log p(v) of every binary frame v ([batch, n_visible]), exact: [batch]; `form` as logits'."""
    return -tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=v, logits=logits(v, W, V, b, c, form)), -1)


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
