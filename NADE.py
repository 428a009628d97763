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

import RBM
from tf1 import tf


BLOCK = 8    # units per block of logits_by_blocks(), at most: 8 and 16 time alike here, 8 a little ahead
WINDOW = 80  # units per window of logits_by_windows(), about: 780 units in 10 windows of 78, 88 in one
# Each form's time per row, in units of logits_by_blocks' n_visible n_hidden, as timed here
# (docs/performance.md): by levels LEVELS_COST K (3 n_visible + n_hidden), K the levels of the
# batch; by windows WINDOWS_COST M n_visible n_hidden, M the most levels any window meets.
LEVELS_COST = 0.56
WINDOWS_COST = 0.02
FORMS = ("levels", "windows", "blocks")


def logits(v, W, V, b, c, form=None):
    """log-odds of p(v_i = 1 | v_<i) for every unit of every binary frame v ([batch, n_visible]).

    Three forms compute it: logits_by_levels, whose cost grows with K, the most units on in a
    frame of the batch; logits_by_windows, whose cost grows with the most units on in a window
    of WINDOW consecutive units; and logits_by_blocks, whose cost does not grow with either.
    Each batch takes the one a cost model calls cheapest (form None), or `form` (one of FORMS)
    says which. At the paper preset (88 units, 150 hidden; K = 5 on JSB) by levels is the
    fastest; at the original preset (780 units, 50 hidden; K = 33 on the default chorales, at
    most 5 on in a window of 78) by windows is, 8x faster than the others (docs/performance.md).
    """
    forms = {"levels": lambda: logits_by_levels(v, W, V, b, c), "windows": lambda: logits_by_windows(v, W, V, b, c),
             "blocks": lambda: logits_by_blocks(v, W, V, b, c)}
    if form is not None:
        return forms[form]()
    nv, nh = (int(d) for d in W.shape)
    chosen = cheapest_form(v, nv, nh)
    if window_size(nv) == nv:     # never the windows: TF1's cond, whose gradient runs the taken branch's alone
        return tf.cond(tf.equal(chosen, 0), forms["levels"], forms["blocks"])
    return tf.cond(tf.equal(chosen, 0), forms["levels"],
                   lambda: tf.cond(tf.equal(chosen, 1), forms["windows"], forms["blocks"]))


def cheapest_form(v, nv, nh):
    """The index in FORMS of the form of logits() that the cost model calls cheapest for the
    frames v ([batch, nv]) of a NADE with nh hidden units: [] int32."""
    levels = tf.maximum(tf.reduce_max(tf.reduce_sum(v, -1)), 0.0) + 1.0              # K; 1 for no frames
    size = window_size(nv)
    if size == nv:      # one window: the same levels as logits_by_levels, which gets them for less
        window_levels = tf.constant(np.inf)
    else:               # the most units on in a window, + 1, or one more where its last unit is on
        level = tf.reshape(tf.cumsum(tf.pad(v, [[0, 0], [0, -nv % size]]), -1, exclusive=True), [tf.shape(v)[0], -1, size])
        window_levels = tf.maximum(tf.reduce_max(level[:, :, -1] - level[:, :, 0]), 0.0) + 2.0
    costs = [LEVELS_COST * levels * (3 * nv + nh), WINDOWS_COST * window_levels * nv * nh, tf.constant(float(nv * nh))]
    return tf.argmin(tf.stack(costs), output_type=tf.int32)


def window_size(nv):
    """Units per window of logits_by_windows for nv units: about WINDOW, as even as they come."""
    windows = max(1, round(nv / WINDOW))
    return -(-nv // windows)


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


def logits_by_windows(v, W, V, b, c):
    """logits(), per level within windows of consecutive units (window_size). The hidden vector
    of each level is computed once per frame: the W rows of the units that are on, gathered in
    order, summed by a matmul with a triangular matrix ([K, batch, n_hidden], K the levels of
    the batch, as logits_by_levels). A window of units meets only the levels of its own units,
    M at most (one more than the most units on in a window), so each window multiplies only
    those M hidden vectors by its columns of V, and each unit takes its own level's product:
    M n_visible n_hidden multiply-adds per frame, where logits_by_levels does K n_visible
    n_hidden. On the default chorales K = 34 but M = 6. The hidden units are computed as
    sigmoid(a) = (1 + tanh(a / 2)) / 2, the halves and the constant folded into W, c, b and V.
    """
    nv, nh = (int(d) for d in W.shape)
    size = window_size(nv)
    windows, units = -(-nv // size), -(-nv // size) * size
    rows = tf.shape(v)[0]
    most_on = tf.cast(tf.maximum(tf.reduce_max(tf.reduce_sum(v, -1)), 0.0), tf.int32)
    levels = most_on + 1                                                          # K
    # the units that are on, lowest first: top_k of a score that falls with the unit's index
    top, on = tf.math.top_k(v * tf.range(nv, 0, -1, dtype=v.dtype), k=most_on)   # [batch, K - 1]
    on_W = tf.gather(0.5 * W, tf.transpose(on)) * tf.cast(tf.transpose(top) > 0, v.dtype)[:, :, None]  # [K - 1, batch, nh]
    below = tf.linalg.band_part(tf.ones([levels, most_on]), -1, 0) - tf.eye(levels, most_on)     # [K, K - 1]: 1 where j < l
    half_c = 0.5 * c
    a = tf.reshape(tf.matmul(below, tf.reshape(on_W, [most_on, -1])), [levels, rows, nh]) + half_c  # [K, batch, nh]
    t = tf.reshape(tf.tanh(a), [-1, nh])                                          # [K * batch, nh]: 2 h - 1 per level
    level = tf.cast(tf.cumsum(tf.pad(v, [[0, 0], [0, units - nv]]), -1, exclusive=True), tf.int32)   # [batch, units]
    level = tf.transpose(tf.reshape(level, [rows, windows, size]), [1, 0, 2])    # [windows, batch, size]
    first = level[:, :, :1]                                                       # [windows, batch, 1]
    local = level - first                                                         # [windows, batch, size]: 0 .. M - 1
    most_local = tf.maximum(tf.reduce_max(local), 0) + 1                          # M (1 for no frames)
    at = tf.minimum(first + tf.range(most_local), most_on) * rows + tf.range(rows)[None, :, None]   # [windows, batch, M]
    h_w = tf.reshape(tf.gather(t, at), [windows, -1, nh])                         # [windows, batch * M, nh]
    V_w = tf.transpose(tf.reshape(tf.pad(0.5 * V, [[0, 0], [0, units - nv]]), [nh, windows, size]), [1, 0, 2])  # [windows, nh, size]
    per_level = tf.reshape(tf.matmul(h_w, V_w), [windows, rows, most_local, size])
    own = tf.cast(tf.equal(local[:, :, None, :], tf.range(most_local)[:, None]), v.dtype)   # [windows, batch, M, size]
    out = tf.reshape(tf.transpose(tf.reduce_sum(per_level * own, 2), [1, 0, 2]), [rows, units])[:, :nv]
    return b + 0.5 * tf.reduce_sum(V, 0) + out


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
    return RBM.bernoulli_log_p(v, logits(v, W, V, b, c, form))


def sample(W, V, b, c, seed, n=None, with_log_prob=False):
    """One frame per row of the biases, drawn unit by unit, lowest first: [batch, n_visible];
    with `with_log_prob`, (frames, log p of each frame [batch]).

    b and c hold a row per frame ([batch, n_visible], [batch, n_hidden]); with vector biases
    give the number of frames `n`. The draws use the uniforms of `seed` (int64 [2]), one per unit.

    The hidden vector changes only where a unit turns on, so with the uniforms drawn up front
    every unit up to the next one that turns on is decided at once: each step computes the
    log-odds of all units from the current hidden vector and turns on the first unit, at or
    after the first undecided one, whose uniform lies below its probability. A frame takes one
    step per unit on, and one more, where sample_by_units takes one per unit; the frames are
    the same as sample_by_units' from the same uniforms, up to float rounding (tests/test_NADE.py).
    The log-odds that decide each unit also give log p, so it costs no second pass over the units.
    """
    b, c, uniforms = _frame_inputs(b, c, seed, n)
    v, x = _sample_by_runs(W, V, b, c, uniforms, with_log_prob)
    if not with_log_prob:
        return v
    return v, RBM.bernoulli_log_p(v, x)


def sample_given(W, V, b, c, seed, mask, values):
    """A frame per row, with the units where `mask` is 1 set to `values` and the others drawn
    in order given the units before them; and the log-weight of each frame, the log p of its
    set units given the units before each: (frames [batch, n_visible], log-weights [batch]).

    A set unit comes before free units of higher index, which then follow it, but the free units
    below it are drawn without regard to it. So the frames are draws from a proposal, not from
    p(free units | set units); drawn several times per row, and one of them kept with
    probability in proportion to exp(log-weight), they tend to the latter (sequential
    importance resampling, rnn_rbm._nade_sample_given). b, c: [batch, ...], as sample()'s;
    mask, values: [batch, n_visible]. A set unit's uniform is 0 (on) or 1 (off), so sample()'s
    rule decides it, at no cost.
    """
    b, c, uniforms = _frame_inputs(b, c, seed, None)
    uniforms = tf.where(mask > 0, 1.0 - values, uniforms)                         # log(0) - log1p(-0) = -inf: on
    v, x = _sample_by_runs(W, V, b, c, uniforms, True)
    log_p_units = -tf.nn.sigmoid_cross_entropy_with_logits(labels=v, logits=x)     # [batch, nv]
    return v, tf.reduce_sum(mask * log_p_units, -1)


def _sample_by_runs(W, V, b, c, uniforms, with_log_odds):
    """(frames, the log-odds that decided each unit, or zeros) of sample(), from given uniforms."""
    nv = int(W.shape[0])
    # selects between tensors of one shape, and a gather for the W row, are the fastest ops here
    units = tf.broadcast_to(tf.range(nv), tf.shape(b))                           # [batch, nv]
    none = tf.fill(tf.shape(b), nv)                                              # [batch, nv]
    W_or_0 = tf.concat([W, tf.zeros_like(W[:1])], 0)                             # [nv + 1, nh]: row nv for no unit
    logit_u = tf.math.log(uniforms) - tf.math.log1p(-uniforms)                   # u < sigmoid(x) where logit(u) < x

    def step(a, start, v, x_decided):
        x = b + tf.matmul(tf.sigmoid(a), V)                                      # [batch, nv]: log-odds
        undecided = units >= tf.broadcast_to(start[:, None], tf.shape(units))
        first = tf.reduce_min(tf.where(undecided & (logit_u < x), units, none), -1)   # [batch]: nv if none
        # a unit's last log-odds while undecided are those that decided it
        x_decided = tf.where(undecided, x, x_decided) if with_log_odds else x_decided
        return a + tf.gather(W_or_0, first), first + 1, v + tf.one_hot(first, nv), x_decided

    start = tf.zeros(tf.shape(b)[:1], tf.int32)
    _, _, v, x = tf.while_loop(lambda a, start, *_: tf.reduce_any(start < nv), step,
                               [c, start, tf.zeros_like(b), tf.zeros_like(b)], back_prop=False)
    return v, x


def sample_by_units(W, V, b, c, seed, n=None):
    """sample(), one unit after another: n_visible sequential steps per frame. The textbook
    sampler, kept as the reference that sample() is tested against."""
    b, c, uniforms = _frame_inputs(b, c, seed, n)
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


def _frame_inputs(b, c, seed, n):
    """(b, c, uniforms), a row per frame, as sample() and sample_by_units() draw them."""
    if b.shape.rank == 1:
        b, c = tf.tile(b[None], [n, 1]), tf.tile(c[None], [n, 1])
    return b, c, tf.random.stateless_uniform(tf.shape(b), seed)                   # [batch, nv]
