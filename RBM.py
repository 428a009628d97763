"""Restricted Boltzmann machine maths, as TF1 graph pieces.

Every function takes the parameters explicitly. The biases ``bv`` and ``bh`` may be vectors
(``[n_visible]``, ``[n_hidden]``) shared by every row, or matrices (``[batch, n_visible]``,
``[batch, n_hidden]``) that give each row its own biases, as the RNN-RBM does.

Random draws are stateless: each one is a function of an explicit ``seed`` (an int64 tensor
of shape [2]), so a run can be replayed exactly, resumed from a checkpoint, and tested.
A Gibbs chain of k steps uses the seeds ``seed + [0, j]`` for ``j < 2 k``; callers keep
their seeds ``SEED_STRIDE`` apart. The rule for the seeds of a job's session runs is here too:
run_seed for the i-th run of a job, epoch_run_seed for the i-th run of an epoch.
"""
import collections
import contextlib

import numpy as np
from tensorflow.python.compiler.xla import jit

from tf1 import tf

GibbsStep = collections.namedtuple("GibbsStep", ["h_prob", "h", "v_prob", "v"])

SEED_STRIDE = 1 << 16   # seeds a session run may use after its own: a Gibbs chain's k < SEED_STRIDE / 2
EPOCH_BITS = 24         # an epoch's session runs take the run indices (epoch << EPOCH_BITS) + i


def run_seed(seed, run_index):
    """The [2] int64 seed (a NumPy array, to feed) of the `run_index`-th session run of a job seeded `seed`."""
    if not 0 <= run_index < (1 << 63) // SEED_STRIDE:
        raise ValueError(f"run index {run_index} leaves the int64 seed space")
    return np.array([seed, run_index * SEED_STRIDE], np.int64)


def epoch_run_seed(seed, epoch, i):
    """The seed of session run `i` of epoch `epoch` (training, pretraining): every draw of an epoch is a
    function of (seed, epoch), so an epoch replays exactly, after a resume too."""
    if not 0 <= i < 1 << EPOCH_BITS:
        raise ValueError(f"an epoch may have at most {1 << EPOCH_BITS} session runs, got run {i}")
    return run_seed(seed, (epoch << EPOCH_BITS) + i)


def check_chain_length(k, room=SEED_STRIDE):
    """A chain of k Gibbs steps uses 2 k seeds; refuse one that would reach the seeds at `room`."""
    if 2 * k > room:
        raise ValueError(f"{k} Gibbs steps need {2 * k} seeds, more than the {room} set aside for them; use fewer steps")


def offset_seed(seed, offset):
    """seed + [0, offset] for an int64 [2] seed."""
    return seed + tf.stack([tf.constant(0, tf.int64), tf.cast(offset, tf.int64)])


def _U32(value):
    return tf.constant(value, tf.uint32)


def _mix32(x):
    """Wellons' lowbias32 finaliser: an avalanching 32-bit hash, elementwise on uint32."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _U32(16)))
    x *= _U32(0x7FEB352D)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _U32(15)))
    x *= _U32(0x846CA68B)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _U32(16)))


def uniform16(like, seed, fused=True, first_row=0):
    """Uniform integers in [0, 65536) as float32, one per entry of `like` ([batch, n], n static).

    Random numbers are the cost of CD-k. Fused (inside an XLA scope, for large batches), they
    come from a counter-based hash that XLA compiles into the sampling arithmetic, several
    times faster than TF's Philox kernel; each 32-bit hash gives two 16-bit uniforms. The
    seed's four 32-bit words are hashed into a key; each pair of entries hashes its position
    offset by the key, then that hash xor the key again, so that two keys never give shifted
    copies of one stream. Unfused (a few rows, where the ~20 small ops of the hash would cost
    more than the numbers), each 64 bits of TF's Philox give four uniforms instead: the same
    distribution, other draws.

    Fused, an entry's draw depends only on the seed and its position, where `like` is rows
    first_row, first_row + 1, ... of a larger batch: a batch cut into blocks draws as a whole.
    """
    n = int(like.shape[-1])
    if not fused:
        quads = (n + 3) // 4
        bits = tf.random.stateless_uniform([tf.shape(like)[0], quads], seed, minval=None, maxval=None, dtype=tf.uint64)
        return tf.cast(tf.reshape(tf.bitcast(bits, tf.uint16), [-1, 4 * quads])[:, :n], tf.float32)
    words = tf.reshape(tf.bitcast(seed, tf.uint32), [4])
    key = _mix32(words[0] ^ _mix32(words[1] ^ _mix32(words[2] ^ _mix32(words[3]))))
    pairs = (n + 1) // 2
    position = tf.bitcast(tf.range(tf.shape(like)[0] * pairs, dtype=tf.int32) + first_row * pairs, tf.uint32)
    bits = tf.reshape(_mix32(_mix32(position + key * _U32(0x9E3779B9)) ^ key), [-1, pairs])   # [batch, pairs]
    low = tf.bitwise.bitwise_and(bits, _U32(0xFFFF))
    high = tf.bitwise.right_shift(bits, _U32(16))
    return tf.cast(tf.concat([low, high], axis=1)[:, :n], tf.float32)


def repeat_rows(a, times):
    """Each row of `a` repeated `times` times in a row: [rows, n] -> [rows * times, n]."""
    return tf.reshape(tf.tile(a[:, None, :], [1, times, 1]), [-1, int(a.shape[-1])])


def _fused(on=True):
    """Scope in which XLA fuses the elementwise work of a Gibbs step into one pass over memory.

    Worth it for large batches (training); for a few rows, XLA's launch cost outweighs it.
    """
    return jit.experimental_jit_scope() if on else contextlib.nullcontext()


def sample_bernoulli(probs, seed):
    """One 0/1 draw per entry of `probs` ([batch, n], n static), a function of `seed` ([2] int64).

    A draw is on when its 16-bit uniform u is below 65536 p: an exact Bernoulli draw for p on
    the 2^-16 grid, and off by less than 2^-16 in between.
    """
    with _fused():
        return tf.cast(uniform16(probs, seed) < probs * 65536.0, probs.dtype)


def activate(product, bias, seed, fused=True, first_row=0):
    """(sigmoid(product + bias), a draw from it), the elementwise part fused.

    A draw is on when u / 65536 < sigmoid(logits) for its 16-bit uniform u. Fused, that is
    tested as u / 32768 - 1 < tanh(logits / 2), which XLA computes faster than the sigmoid, and
    the probability costs nothing unless it is used.
    """
    with _fused(fused):
        logits = product + bias
        prob = tf.sigmoid(logits)
        u = uniform16(logits, seed, fused, first_row)
        on = u * (1.0 / 32768.0) - 1.0 < tf.tanh(0.5 * logits) if fused else u < prob * 65536.0
        return prob, tf.cast(on, prob.dtype)


def gibbs_step(v, W, bv, bh, seed, fused=True, first_row=0):
    """One step of block Gibbs sampling v -> h -> v'. v: [batch, n_visible]. Uses seed and seed + [0, 1]."""
    h_prob, h = activate(tf.matmul(v, W), bh, seed, fused, first_row)                             # [batch, n_hidden]
    v_prob, v_new = activate(tf.matmul(h, W, transpose_b=True), bv, offset_seed(seed, 1), fused, first_row)
    return GibbsStep(h_prob=h_prob, h=h, v_prob=v_prob, v=v_new)                                                     # v: [batch, n_visible]


def gibbs_sample(v, W, bv, bh, k, seed, fused=True, blocks=1, clamp=None):
    """Run k Gibbs steps from v; no gradient flows through the sample.

    With blocks > 1 (fused only), the rows are cut into that many blocks, each its own chain,
    which TF runs side by side: XLA runs the sampling arithmetic on one core, so two chains keep
    both cores busy, and a smaller block stays in cache. Every row draws as in one chain.

    `clamp` (mask, values), both [batch, n_visible], holds the units where mask is 1 at their
    values in the start and after every step: the chain then samples the other units from
    their distribution given those (harmonizing a melody).
    """
    if isinstance(k, int):
        check_chain_length(k)
    def chain(v, bv, bh, clamp, first_row):
        held = (lambda v_i: v_i) if clamp is None else (lambda v_i: v_i + clamp[0] * (clamp[1] - v_i))

        def body(i, v_i):
            return i + 1, held(gibbs_step(v_i, W, bv, bh, offset_seed(seed, 2 * i), fused, first_row).v)

        return tf.while_loop(lambda i, v_i: i < k, body, [tf.constant(0), held(v)], back_prop=False)[1]

    if blocks == 1:
        return tf.stop_gradient(chain(v, bv, bh, clamp, 0))
    if not fused:
        raise ValueError("Gibbs chains in blocks need fused sampling")
    rows = tf.shape(v)[0]
    bounds = [rows * b // blocks for b in range(blocks + 1)]

    def block(a, b):
        a = tf.convert_to_tensor(a)
        return a[bounds[b]:bounds[b + 1]] if a.shape.rank == 2 else a

    samples = [chain(block(v, b), block(bv, b), block(bh, b), None if clamp is None else [block(a, b) for a in clamp],
                     bounds[b]) for b in range(blocks)]
    return tf.stop_gradient(tf.concat(samples, axis=0))


def spread_start(v_prev, bv, seed):
    """v_prev with each unit also turned on with probability sigmoid(bv), where a generated row's
    chain starts (generation_sample). Uses the last seed of the stride, seed + SEED_STRIDE - 1."""
    drawn = tf.random.stateless_uniform(tf.shape(v_prev), offset_seed(seed, SEED_STRIDE - 1)) < tf.sigmoid(bv)
    return tf.maximum(v_prev, tf.cast(drawn, v_prev.dtype))


def generation_sample(v_prev, W, bv, bh, k, seed, fused=True, blocks=1, clamp=None, k_from_silence=0, silent=None,
                      room=SEED_STRIDE - 2, spread=True):
    """A generated row of each chain: gibbs_sample's k steps from v_prev, with two changes to
    where the chain starts that keep it from collapsing into silence (docs/music.md).

    - The start is v_prev with each unit also turned on with probability sigmoid(bv): notes the
      row's biases want are there to keep or drop, where v_prev alone holds the last chord.
    - Where v_prev is silent (the first row without a primer, or after a silent row), the chain
      takes k_from_silence steps instead. From silence, k = 25 steps leave most chains at 0 or 1
      notes where the model wants 3 or 4, and the RNN, fed that, wants silence next.

    bv, bh: [batch, ...] as gibbs_sample's; clamp as gibbs_sample's. `silent` ([batch] bool) says
    which rows start from silence where v_prev is not the frame (a DBN's top layer); by default
    those whose v_prev has no unit on. Without `spread` the chain starts at v_prev itself (a DBN
    spreads its frame before the up-pass instead). The start's draws use the last seed of the
    stride (spread_start); the chains' seeds stay below `room`.
    """
    check_chain_length(k_from_silence, room=room)
    start = spread_start(v_prev, bv, seed) if spread else v_prev
    v = gibbs_sample(start, W, bv, bh, k, seed, fused, blocks, clamp)
    if not isinstance(k, int) or k_from_silence <= k:
        return v
    silent = tf.where(tf.reduce_sum(v_prev, -1) < 0.5 if silent is None else silent)   # [silent rows, 1]
    rows = lambda a: None if a is None else tf.gather_nd(a, silent)

    def longer():
        return tf.tensor_scatter_nd_update(v, silent, gibbs_sample(
            rows(start), W, rows(bv), rows(bh), k_from_silence, seed, fused, blocks,
            None if clamp is None else tuple(map(rows, clamp))))
    return tf.cond(tf.size(silent) > 0, longer, lambda: v)


def free_energy(v, W, bv, bh):
    """F(v) = -v.bv - sum_j softplus((v W + bh)_j), one value per row: [batch]."""
    return -tf.reduce_sum(v * bv, axis=1) - tf.reduce_sum(tf.nn.softplus(tf.matmul(v, W) + bh), axis=1)


def bernoulli_log_p(x, logits):
    """log p(x) of binary rows `x` under independent Bernoullis of log-odds `logits`: [rows]."""
    return -tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits), -1)


def weighted_mean(values, weights=None):
    """Mean of `values`, weighted by `weights` of the same shape if given (0 drops an entry)."""
    if weights is None:
        return tf.reduce_mean(values)
    return tf.reduce_sum(values * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


def contrastive_gap(v, v_sample, W, bv, bh, weights=None):
    """Mean of F(v) - F(v_sample) over the rows (weighted by `weights` [batch], if given)."""
    return weighted_mean(free_energy(v, W, bv, bh) - free_energy(v_sample, W, bv, bh), weights)


def cd_loss(v, W, bv, bh, k, seed, weights=None):
    """Contrastive-divergence loss: mean of F(v) - F(v*) with v* drawn by k Gibbs steps from v.

    Its gradient is the CD-k update. `weights` ([batch], optional) masks rows out of the mean.
    """
    return contrastive_gap(v, gibbs_sample(v, W, bv, bh, k, seed), W, bv, bh, weights)


def log_z_base(base, n_hidden):
    """log Z of the base-rate RBM: visible biases `base` ([rows, n_visible]), no weights, zero hidden biases."""
    return tf.reduce_sum(tf.nn.softplus(base), axis=1) + n_hidden * np.log(2.0)


Ais = collections.namedtuple("Ais", [
    "log_z",        # [rows]: log Z_base + log mean_m w_m over the chains' weights w_m
    "std_error",    # [rows]: its standard error, std(w) / (sqrt(n_chains) mean(w))
    "v",            # [rows, n_chains, n_visible]: each chain's last state, a sample from the row's RBM ...
    "log_w",        # [rows, n_chains]: ... that carries the importance weight exp(log_w)
])


def ais_log_z(W, bv, bh, base, betas, n_chains, seed):
    """Annealed importance sampling estimate of log Z for the RBM of each row (Salakhutdinov & Murray 2008).

    Row r's RBM has weights W and biases bv[r], bh[r] ([rows, n_visible], [rows, n_hidden]).
    The chains anneal from the base-rate RBM with visible biases base[r] (and no weights) at
    beta = 0 to that RBM at beta = 1, through the distributions with unnormalised log-probability
    log f_b(v) = (1 - b) v.base + b v.bv + sum_j softplus(b (v W + bh)_j); each temperature
    moves every chain by one Gibbs step. `betas` is an increasing 1-D float array from 0 to 1.

    Returns an Ais. Its weighted chains also estimate expectations under the row's RBM,
    E[f(v)] ~ sum_m w_m f(v_m) / sum_m w_m, without relying on one Gibbs chain to move between
    modes: the weights restore each mode's share of the mass.
    """
    rows, n_hidden = tf.shape(bv)[0], int(bh.shape[-1])
    base_c, bv_c, bh_c = (repeat_rows(a, n_chains) for a in (base, bv, bh))   # [rows * n_chains, n]
    log_f, step = _annealing(W, base_c, bv_c, bh_c)
    betas = tf.constant(np.asarray(betas, np.float32))

    def body(k, v, log_w):
        vw_bh = tf.matmul(v, W) + bh_c
        log_w += log_f(v, vw_bh, betas[k]) - log_f(v, vw_bh, betas[k - 1])
        return k + 1, step(vw_bh, betas[k], offset_seed(seed, 2 * k)), log_w

    v0 = sample_bernoulli(tf.sigmoid(base_c), seed)
    _, v, log_w = tf.while_loop(lambda k, v, log_w: k < tf.shape(betas)[0], body,
                                [tf.constant(1), v0, tf.zeros([rows * n_chains])], back_prop=False)
    log_w = tf.reshape(log_w, [rows, n_chains])
    log_mean_w, std_error = _log_mean_exp(log_w)
    return Ais(log_z=log_z_base(base, n_hidden) + log_mean_w, std_error=std_error,
               v=tf.reshape(v, [rows, n_chains, -1]), log_w=log_w)


def raise_log_p(v, W, bv, bh, base, betas, n_chains, seed):
    """Reverse annealed importance sampling (RAISE; Burda, Grosse & Salakhutdinov 2015): a
    conservative estimate of log p(v_r) under the RBM of each row r (arguments as ais_log_z's,
    v: [rows, n_visible]).

    The annealing model draws a state from the base-rate RBM and moves it by one Gibbs step at
    each temperature of `betas` in turn; with more temperatures it tends to the RBM. Its
    probability of v is estimated without bias by chains that start at v at beta = 1 and walk
    the temperatures back down to 0: w = p_base(x_0) prod_k f_k(x_k) / f_k(x_{k-1}), with
    x_K = v. log mean_m w_m falls below the annealing model's log p(v) on average (Jensen), and
    short of temperatures that model puts less mass than the RBM on states in the RBM's sharp
    modes, where data lie, since its chains have not settled into them. So on data RAISE errs
    low where ais_log_z, which underestimates log Z, errs high: the two bracket the RBM's log p
    (Burda et al.; a state the RBM finds unlikely, such as silence beside sharp modes, can be
    overestimated instead). Returns (log_p, standard_error), each [rows].
    """
    rows = tf.shape(bv)[0]
    v_c, base_c, bv_c, bh_c = (repeat_rows(a, n_chains) for a in (v, base, bv, bh))
    log_f, step = _annealing(W, base_c, bv_c, bh_c)
    betas = tf.constant(np.asarray(betas, np.float32))

    def body(k, x, xw_bh, log_w):
        x_new = step(xw_bh, betas[k], offset_seed(seed, 2 * k))
        new_w_bh = tf.matmul(x_new, W) + bh_c
        return k - 1, x_new, new_w_bh, log_w + log_f(x, xw_bh, betas[k]) - log_f(x_new, new_w_bh, betas[k])

    k_last = tf.shape(betas)[0] - 1
    _, x0, _, log_w = tf.while_loop(lambda k, x, xw_bh, log_w: k >= 1, body,
                                    [k_last, v_c, tf.matmul(v_c, W) + bh_c, tf.zeros([rows * n_chains])],
                                    back_prop=False)
    log_w += tf.reduce_sum(x0 * base_c, 1) - tf.reduce_sum(tf.nn.softplus(base_c), 1)     # log p_base(x_0)
    return _log_mean_exp(tf.reshape(log_w, [rows, n_chains]))


def _annealing(W, base_c, bv_c, bh_c):
    """(log_f, step) of the distributions between the base-rate RBM (b = 0) and the RBM (b = 1):
    log_f(v, vw_bh, b) = (1 - b) v.base + b v.bv + sum_j softplus(b vw_bh_j), with vw_bh = v W + bh,
    and step(vw_bh, b, seed), one Gibbs step v -> h -> v' that leaves distribution b invariant."""
    def log_f(v, vw_bh, beta):
        return ((1.0 - beta) * tf.reduce_sum(v * base_c, 1) + beta * tf.reduce_sum(v * bv_c, 1)
                + tf.reduce_sum(tf.nn.softplus(beta * vw_bh), 1))

    def step(vw_bh, beta, seed):
        h = sample_bernoulli(tf.sigmoid(beta * vw_bh), seed)
        return sample_bernoulli(tf.sigmoid((1.0 - beta) * base_c + beta * (tf.matmul(h, W, transpose_b=True) + bv_c)),
                                offset_seed(seed, 1))

    return log_f, step


def _log_mean_exp(log_w):
    """(log mean_m w_m, its standard error std(w) / (sqrt(m) mean(w))) of each row of log_w [rows, m]."""
    top = tf.reduce_max(log_w, axis=1, keepdims=True)
    w = tf.exp(log_w - top)
    mean_w = tf.reduce_mean(w, axis=1)
    std_w = tf.sqrt(tf.reduce_mean(tf.square(w - mean_w[:, None]), axis=1))
    return tf.squeeze(top, 1) + tf.math.log(mean_w), std_w / (np.sqrt(int(log_w.shape[-1])) * mean_w)


def gibbs_marginals(v_start, W, bv, bh, k, n_chains, seed):
    """p(v_i = 1) under each row's RBM, estimated by n_chains Gibbs chains of k steps started at
    that row of v_start: the mean of the visible probabilities of one more step. [rows, n_visible].
    Uses the seeds seed + [0, j] for j <= 2 k."""
    v_c, bv_c, bh_c = (repeat_rows(tf.convert_to_tensor(a), n_chains) for a in (v_start, bv, bh))
    chains = gibbs_sample(v_c, W, bv_c, bh_c, k, seed)
    v_prob = gibbs_step(chains, W, bv_c, bh_c, offset_seed(seed, 2 * k)).v_prob   # [rows * n_chains, n_visible]
    return tf.reduce_mean(tf.reshape(v_prob, [-1, n_chains, int(v_prob.shape[-1])]), axis=1)


def marginal_base(marginals, floor=1e-4):
    """Visible biases of a base-rate RBM for AIS whose units are on with the given probabilities
    ([rows, n_visible], kept within [floor, 1 - floor] so that every state stays possible).

    From sampled marginals this base covers every mode the chains found. The fixed point of
    mean field settles on one mode instead, and on Nottingham's sharp conditionals AIS from
    there missed the others: estimates of log p above 0.
    """
    p = tf.clip_by_value(marginals, floor, 1.0 - floor)
    return tf.math.log(p) - tf.math.log1p(-p)


def ais_betas(n):
    """n + 1 temperatures from 0 to 1, spaced like Salakhutdinov & Murray's (2008) 500 / 4,000 /
    10,000 in [0, 0.5) / [0.5, 0.9) / [0.9, 1]: dense near 1, where the sharp distributions are."""
    low, mid = max(1, n // 29), max(1, 8 * n // 29)
    return np.concatenate([np.linspace(0.0, 0.5, low, endpoint=False), np.linspace(0.5, 0.9, mid, endpoint=False),
                           np.linspace(0.9, 1.0, max(2, n - low - mid + 1))])
