"""Deep belief network maths (Hinton, Osindero & Teh 2006), as TF1 graph pieces: the frame
distribution of the RNN-DBN (Goel, Vohra & Sahoo 2014) and, with an LSTM, the DBN-LSTM
(Vohra, Goel & Sahoo 2015).

A DBN with hidden layers h1 .. hL (sizes n1 .. nL, L >= 2) is a stack of L RBMs. RBM l has the
weights W_l ([n_{l-1}, n_l], n_0 the visible units, W_1 the RNN-RBM's W), a visible bias b_l
and a hidden bias c_l. As a generative model the top RBM (h_{L-1}, hL) is undirected and the
layers below are directed, each unit on with

    p(h_{l-1} = 1 | h_l) = sigmoid(h_l W_l^T + b_l),    p(v = 1 | h1) = sigmoid(h1 W^T + bv),

while the up-pass, which infers the layers from a frame, uses each RBM's hidden bias:

    q(h_l = 1 | h_{l-1}) = sigmoid(h_{l-1} W_l + c_l)    (h_0 = v).

Every bias but bv sits in one packed vector bh (split_biases): c_1, then b_l and c_l of each
RBM above, so that an RNN sets every layer's biases from u_{t-1} through one matrix Wuh, as
it sets the RBM's. The biases may be vectors or one row per frame, as in RBM.py.

Training is each RBM's CD-k on the data's up-pass (layer_gaps); generation runs the top RBM's
Gibbs chain, then one down-pass (sample). log p(v) has no closed form; bound gives the
variational lower bound of Salakhutdinov & Murray (2008) up to the top RBM's log Z, which
RBM.ais_log_z estimates.
"""
import numpy as np

import RBM
from tf1 import tf

# Seeds of a session run, counted down from its stride's end (RBM.SEED_STRIDE): generation's start
# takes the last one, the up- and down-pass draws those below it, clear of any Gibbs chain's.
PASS_SEEDS = RBM.SEED_STRIDE - 2


def bias_width(sizes):
    """Width of the packed biases bh: c_1, then b_l and c_l of each RBM l >= 2."""
    return sizes[0] + sum(sizes[l - 1] + sizes[l] for l in range(1, len(sizes)))


def split_biases(bv, bh, sizes):
    """[(b_l, c_l)] of RBM l = 1 .. L, from bv and the packed bh (vectors, or one row per frame)."""
    widths = [sizes[0]] + [n for l in range(1, len(sizes)) for n in (sizes[l - 1], sizes[l])]
    parts = tf.split(bh, widths, axis=-1)
    return [(bv, parts[0])] + [(parts[2 * l - 1], parts[2 * l]) for l in range(1, len(sizes))]


def up_pass(v, weights, biases, seed, fused=True):
    """[x_1 = v, x_2, .., x_L]: the data of each RBM, x_{l+1} a draw of q(h_l | x_l). No gradient
    flows through the draws. weights: [W, W_2, .., W_L]; biases: split_biases'. Uses the seeds
    seed + [0, l] for l < L - 1."""
    xs = [v]
    for l in range(len(weights) - 1):
        W, (_, c) = weights[l], biases[l]
        xs.append(tf.stop_gradient(RBM.activate(tf.matmul(xs[-1], W), c, RBM.offset_seed(seed, l), fused)[1]))
    return xs


def layer_gaps(v, weights, biases, k, seed, row_weights=None, start=None, blocks=1):
    """[F_l(x_l) - F_l(x_l*)] of every RBM: the mean free-energy gap (RBM.contrastive_gap) of RBM
    l between its data x_l from the up-pass of v and the negative sample x_l* of a CD-k chain from
    x_l (RBM 1's from `start`, where given: negative_starts). The gradient of their sum is every
    layer's CD-k update, and reaches the RNN through the biases. Uses the seeds seed + [0, j] for
    j < L (2 k + 1)."""
    xs = up_pass(v, weights, biases, RBM.offset_seed(seed, 2 * k * len(weights)), blocks == 1)
    gaps = []
    for l, (x, W, (b, c)) in enumerate(zip(xs, weights, biases)):
        chain_start = start if (l == 0 and start is not None) else x
        negative = RBM.gibbs_sample(chain_start, W, b, c, k, RBM.offset_seed(seed, 2 * k * l), blocks=blocks)
        gaps.append(RBM.contrastive_gap(x, negative, W, b, c, weights=row_weights))
    return gaps


def down_pass(h, weights, biases, seed, fused=True, to_layer=0):
    """A draw of each layer below the top RBM's visible layer h (h_{L-1}), down to layer
    `to_layer` (0: the frame), each given the one above. Uses the seeds seed - [0, j], j < L - 1."""
    for l in range(len(weights) - 1, to_layer, -1):
        W, (b, _) = weights[l - 1], biases[l - 1]
        h = RBM.activate(tf.matmul(h, W, transpose_b=True), b, RBM.offset_seed(seed, -(l - 1)), fused)[1]
    return h


def top_chain(v_prev, weights, biases, k, seed, fused=True, blocks=1, k_from_silence=0):
    """h_{L-1} of each row, drawn by the top RBM's Gibbs chain (RBM.generation_sample: k steps,
    k_from_silence where v_prev, the previous frame, is silent). The chain starts from the
    up-pass of v_prev with the frame's biases' notes added (RBM.spread_start), so that a DBN
    stacked on an RNN-RBM starts where the RNN-RBM's chain does; the same notes added to the
    up-pass, at h_{L-1}'s own biases, left the stacked Nottingham DBN's songs a quarter silent."""
    start = RBM.spread_start(v_prev, biases[0][0], seed)
    up = up_pass(start, weights, biases, RBM.offset_seed(seed, PASS_SEEDS - 2 * len(weights)), fused)[-1]
    W, (b, c) = weights[-1], biases[-1]
    silent = tf.reduce_sum(v_prev, -1) < 0.5
    return RBM.generation_sample(up, W, b, c, k, seed, fused, blocks, k_from_silence=k_from_silence,
                                 silent=silent, room=PASS_SEEDS - 2 * len(weights) - 2, spread=False)


def sample(v_prev, weights, biases, k, seed, fused=True, blocks=1, k_from_silence=0):
    """A frame per row: the top RBM's chain (top_chain), then one down-pass."""
    h = top_chain(v_prev, weights, biases, k, seed, fused, blocks, k_from_silence)
    return tf.stop_gradient(down_pass(h, weights, biases, RBM.offset_seed(seed, PASS_SEEDS - 1), fused))


def sample_given(v_prev, weights, biases, k, seed, mask, values, particles, fused=True, blocks=1, k_from_silence=0):
    """A frame per row with the units of `mask` held at `values` ([rows, n_visible] each), the
    others drawn given them, by importance resampling: `particles` draws of h1 from the model
    (top chain, down-pass to h1), one kept with probability in proportion to p(held units | h1),
    the free units then drawn from p(v | h1), which is factorial. Exact as particles grow."""
    rows = tf.shape(v_prev)[0]
    tile = lambda a: tf.tile(a, [particles, 1])                                          # particle j of row r: j * rows + r
    tiled = [(tile(b), tile(c)) if b.shape.rank == 2 else (b, c) for b, c in biases]
    h = top_chain(tile(v_prev), weights, tiled, k, seed, fused, blocks, k_from_silence)
    h1 = down_pass(h, weights, tiled, RBM.offset_seed(seed, PASS_SEEDS - 1), fused, to_layer=1)
    logits = tf.matmul(h1, weights[0], transpose_b=True) + tiled[0][0]                  # [particles * rows, nv]
    held, held_values = tile(mask), tile(values)
    log_w = -tf.reduce_sum(held * tf.nn.sigmoid_cross_entropy_with_logits(labels=held_values, logits=logits), -1)
    kept = tf.random.stateless_categorical(tf.transpose(tf.reshape(log_w, [particles, rows])), 1,
                                           RBM.offset_seed(seed, PASS_SEEDS - 2 * len(weights) - 1), dtype=tf.int32)[:, 0]
    pick = kept * rows + tf.range(rows)
    drawn = RBM.activate(tf.gather(logits, pick), 0.0, RBM.offset_seed(seed, PASS_SEEDS - 2 * len(weights) - 2), fused)[1]
    return tf.stop_gradient(tf.where(mask > 0, values, drawn))


def stack(W, bv, bh, Wuh, Wuv, sizes, rng, pad_std=1e-3):
    """The DBN with hidden layers `sizes` that starts where a trained RNN-RBM is (Hinton, Osindero &
    Teh 2006): RBM 1 is the RNN-RBM's (W [nv, n1], biases bv, bh set from u through Wuv, Wuh) and
    each RBM above starts as the transpose of the one below, so that its marginal of the layer
    below is that RBM's own prior: p(v) of the DBN is the RNN-RBM's, and the up-pass is the exact
    posterior, so the variational bound starts at the RNN-RBM's log-likelihood. Training the upper
    RBMs then raises it. A layer wider than the one two below gets its extra units at weights
    N(0, pad_std), biases zero (at pad_std 0, exactly as above).

    Returns (bh, Wuh, [W2, .., WL]): the packed biases (split_biases) and their RNN weights."""
    nv, n1 = W.shape
    if sizes[0] != n1:
        raise ValueError(f"the DBN's first hidden layer has {sizes[0]} units but the RNN-RBM's has {n1}: give "
                         f"--dbn-layers starting at {n1}")
    widths = (nv, *sizes)
    weights, b, c, ub, uc = [W], [bv], [bh], [Wuv], [Wuh]
    pad = lambda a, width: np.concatenate([a, np.zeros((*a.shape[:-1], width), a.dtype)], -1)
    for l in range(1, len(sizes)):
        below, above, under = widths[l], widths[l + 1], widths[l - 1]
        if above < under:
            fix = ",".join(map(str, (*sizes[:l], under, *sizes[l + 1:])))
            raise ValueError(f"hidden layer {l + 1} has {above} units, fewer than the {under} of the layer two below: "
                             f"to start as the transpose of layer {l}'s RBM it needs at least {under}, e.g. "
                             f"--dbn-layers {fix}")
        extra = above - under
        weights.append(np.concatenate([weights[-1].T, rng.normal(0.0, pad_std, (below, extra)).astype(W.dtype)], 1))
        b.append(c[-1]), ub.append(uc[-1])                  # RBM l + 1's visible layer is RBM l's hidden one
        c.append(pad(b[-2], extra)), uc.append(pad(ub[-2], extra))
    packed = lambda first, pairs: np.concatenate([first] + [a for pair in pairs for a in pair], -1)
    return (packed(c[0], zip(b[1:], c[1:])), packed(uc[0], zip(ub[1:], uc[1:])), weights[1:])


def _log_joint_minus_q(xs, weights, biases):
    """log p*(v, h1 .. h_{L-1}) - log q(h1 .. h_{L-1} | v) for the layers xs = [v, h1, .., h_{L-1}]
    (probabilities or draws), where p* leaves out the top RBM's log Z; [rows]."""
    total = -RBM.free_energy(xs[-1], weights[-1], *biases[-1])
    for l in range(len(weights) - 1):
        W, (b, c) = weights[l], biases[l]
        total += RBM.bernoulli_log_p(xs[l], tf.matmul(xs[l + 1], W, transpose_b=True) + b)   # p(x_l | x_{l+1})
        total -= RBM.bernoulli_log_p(xs[l + 1], tf.matmul(xs[l], W) + c)                     # q(x_{l+1} | x_l)
    return total


def bound(v, weights, biases, n_samples, seed):
    """(variational, importance-weighted): two stochastic lower bounds on log p(v) + log Z_top of
    each row ([rows] each), from `n_samples` draws of q(h1 .. h_{L-1} | v), the up-pass.

    variational: the mean over the draws of log p*(v, h) - log q(h | v) (Salakhutdinov & Murray
    2008, eq. 14); its expectation is below log p*(v) by KL(q || p(h | v)). importance-weighted:
    the log of the draws' mean ratio p*(v, h) / q(h | v) (Burda et al. 2016), whose expectation
    also lies below log p*(v) and rises towards it with n_samples. Subtract the top RBM's log Z
    for log p(v)."""
    rows = tf.shape(v)[0]
    tile = lambda a: RBM.repeat_rows(a, n_samples) if a.shape.rank == 2 else a           # draw s of row r: r * n + s
    tiled = [(tile(b), tile(c)) for b, c in biases]
    xs = up_pass(RBM.repeat_rows(v, n_samples), weights, tiled, seed, fused=False)
    log_ratio = tf.reshape(_log_joint_minus_q(xs, weights, tiled), [rows, n_samples])
    weighted = tf.reduce_logsumexp(log_ratio, 1) - np.log(n_samples)
    return tf.reduce_mean(log_ratio, 1), weighted


def score(v, weights, biases):
    """log p*(v, h) - log q(h | v) with each layer at the up-pass's probabilities instead of draws:
    a deterministic stand-in for the bound, which ranks a row's candidates (best_of_sample)."""
    xs = [v]
    for l in range(len(weights) - 1):
        xs.append(tf.sigmoid(tf.matmul(xs[-1], weights[l]) + biases[l][1]))
    return _log_joint_minus_q(xs, weights, biases)
