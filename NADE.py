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

from tf1 import tf


def logits(v, W, V, b, c):
    """log-odds of p(v_i = 1 | v_<i) for every unit of every binary frame v ([batch, n_visible]).

    The hidden units h_i change only where a unit below i is on: a frame with k units on has
    k + 1 distinct hidden vectors, one per level, the level of unit i being the number of units
    on below it. So the hidden vectors are computed per level (K, the most units on in any frame
    of the batch, plus one of them per frame), each unit's log-odds V[:, i] . h for every level,
    and each unit takes its own level's: [batch, K, n_hidden] and [batch, K, n_visible] tensors
    where the textbook form has a [batch, n_visible, n_hidden] one. The hidden units are computed
    as sigmoid(a) = (1 + tanh(a / 2)) / 2, the halves and the constant folded into W, c, b and V.
    The cost grows with K: 5 for JSB at the paper preset, 33 for the default chorales at the original.
    """
    level = tf.cumsum(v, axis=-1, exclusive=True)                                 # [batch, nv]: units on below i
    levels = tf.range(tf.reduce_max(level[:, -1] + v[:, -1]) + 1)                 # [K]: 0 .. the most units on
    below = v[:, None, :] * tf.cast(level[:, None, :] < levels[None, :, None], v.dtype)      # [batch, K, nv]:
    half_c = 0.5 * (c[:, None, :] if c.shape.rank == 2 else c)                   # 1 where unit j is one of the first k on
    t = tf.tanh(tf.tensordot(below, 0.5 * W, 1) + half_c)                        # [batch, K, nh]: 2 h - 1 per level
    per_level = tf.tensordot(t, 0.5 * V, 1)                                        # [batch, K, nv]
    own = tf.cast(tf.equal(level[:, None, :], levels[None, :, None]), v.dtype)    # [batch, K, nv]: unit i's level
    return b + 0.5 * tf.reduce_sum(V, 0) + tf.reduce_sum(per_level * own, 1)


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
