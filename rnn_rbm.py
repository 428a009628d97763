"""The RNN-RBM graph (Boulanger-Lewandowski et al. 2012, as in Shiebler's "Musical TensorFlow"),
and its relatives: a recurrence u_t and a distribution of each frame v_t whose biases it sets.

At time t the RBM over v_t has the biases

    bh_t = bh + u_{t-1} Wuh        bv_t = bv + u_{t-1} Wuv

and the RNN moves on with u_t = tanh(bu + v_t Wvu + u_{t-1} Wuu), starting from the trained
u0. The RBM at t is conditioned on u_{t-1} only, so it never sees v_t.

hp.model picks the frame's distribution (CONDITIONALS): 'rnn-rbm' the RBM above (RBM.py),
'rnn-nade' a NADE with the same two biases (NADE.py, the paper's RNN-NADE; exact likelihood),
'rnn' independent Bernoulli units with log-odds bv_t (the paper's RNN), 'rtrbm' the RTRBM
(Sutskever, Hinton & Taylor 2008), whose recurrent state is the RBM's own hidden expectation,
r_t = sigmoid(v_t W + bh_t), with bh_t = bh + r_{t-1} Wuh and bv_t = bv + r_{t-1} Wuv
(recurrence_view), 'rnn-dbn' a DBN (DBN.py) whose every layer's biases come from u_{t-1}, the
RNN-DBN, with an LSTM the DBN-LSTM. hp.cell picks the recurrence of the others: 'rnn' above,
'lstm' or 'gru'. With hp.optimizer 'hf' an exact model trains by Hessian-free optimization
(build_hf_training_graph, HF.py).

This module only builds graphs: no Session and no file I/O.
"""
import collections
import math

import numpy as np

import DBN
import HF
import NADE
import RBM
from tf1 import tf

# A model's variables; those its frame distribution does not use are None (MODEL_PARAMS).
# W_dbn is a tuple: the weights W2 .. WL of a DBN's RBMs above the first (DBN.py).
Params = collections.namedtuple("Params", ["W", "bv", "bh", "Wuh", "Wuv", "Wvu", "Wuu", "bu", "u0", "V", "W_dbn"],
                                defaults=[None, None])

RnnRbm = collections.namedtuple("RnnRbm", [
    "x",            # placeholder [lanes, time, n_visible]: a chunk of RBM rows per lane; songs follow each other in a lane
    "mask",         # placeholder [lanes, time]: 1 for real rows, 0 for padding, which only ends a lane
    "reset",        # placeholder [lanes, time]: 1 where a song starts, so u_{t-1} is u0 there
    "u_carry",      # placeholder [lanes, state_size]: recurrent state at the end of the previous chunk
    "lr",           # placeholder []: learning rate
    "seed",         # placeholder [2] int64: seed of this run's random draws (RBM.py)
    "u_tm1",        # [lanes, time, n_hidden_recurrent]: the output (u or h) each row's RBM is conditioned on
    "bv_t",         # [lanes, time, n_visible]: visible biases of the RBM at each row
    "bh_t",         # [lanes, time, n_hidden]: hidden biases of the RBM at each row
    "u_final",      # [lanes, state_size]: state after the chunk, to feed as u_carry of the next
    "v_sample",     # [lanes * time, n_visible]: v_t*, the k_train-step Gibbs sample of every row (None if exact)
    "cost",         # []: mean over real rows of F(v_t) - F(v_t*), or of -log p(v_t | v_<t) for an exact model
    "train_op",
    "params",
    "optimizer_state",  # {name: variable}: the optimizer's own variables (Adam's moments), saved with a run's checkpoints
    "blocks",       # int: side-by-side Gibbs chains; run the graph in a session_config(blocks) session
    "hf",           # HfGraph with --optimizer hf (train_op is None then), else None
], defaults=(None,))

Generator = collections.namedtuple("Generator", [
    "primer",       # placeholder [primer_rows, n_visible]: rows that warm up the RNN (may be empty)
    "n_songs",      # placeholder []: songs generated side by side
    "n_steps",      # placeholder []: RBM rows to generate in this run
    "seed",         # placeholder [2] int64: row t of a song draws from seed + [0, t * SEED_STRIDE]
    "first_step",   # placeholder [] int64: index t of this run's first row within the song
    "u_start",      # placeholder [n_songs, state_size]: state before the first row (default: after the primer)
    "v_start",      # placeholder [n_songs, nv]: row the first Gibbs chain starts at (default: last primer row or zeros)
    "music",        # [n_songs, n_steps, n_visible]: 0/1 samples
    "u_end",        # [n_songs, state_size]: state after the last row; feed it as u_start to go on
    "v_end",        # [n_songs, nv]: the last row; feed it as v_start to go on
    "params",
    "clamp_mask",   # placeholder [n_steps, n_songs or 1, nv] (harmonize only, else None): 1 for the units each row
                    #   holds, per song or (1) the same in every song
    "clamp_values",  # placeholder [n_steps, n_songs or 1, nv] (harmonize only): their values
], defaults=(None, None))


# The variables of each model: the recurrence's (Wvu, Wuu, bu, u0), the biases' weights, and the
# frame distribution's own (FRAME_PARAMS).
FRAME_PARAMS = {"rnn-rbm": ("W", "bv", "bh"), "rnn-nade": ("W", "V", "bv", "bh"), "rnn": ("bv",),
                "rtrbm": ("W", "bv", "bh"), "rnn-dbn": ("W", "W_dbn", "bv", "bh")}
MODEL_PARAMS = {model: own + (("Wuh", "Wuv") if "bh" in own else ("Wuv",)) + ("Wvu", "Wuu", "bu", "u0")
                for model, own in FRAME_PARAMS.items()}
MODEL_PARAMS["rtrbm"] = ("W", "bv", "bh", "Wuh", "Wuv", "u0")       # its recurrence is the RBM's W and bh, and Wuh
WEIGHTS = ("W", "V", "W_dbn", "Wuh", "Wuv", "Wvu", "Wuu")     # what --weight-decay shrinks


def named_variables(p):
    """{name: variable} of the variables of Params p that its model has, in Params order; a DBN's
    W_dbn as W2, W3, ..."""
    named = {}
    for name, var in p._asdict().items():
        if isinstance(var, tuple):
            named.update({f"W{l + 2}": w for l, w in enumerate(var)})
        elif var is not None:
            named[name] = var
    return named


def variables(p):
    """The variables of Params p that its model has, in Params order."""
    return list(named_variables(p).values())


def field_variables(p, fields):
    """The variables of Params p in the fields `fields` that its model has, in Params order; W_dbn
    gives its layers W2, W3, ..."""
    return variables(p._replace(**{name: None for name in Params._fields if name not in fields}))


def hidden_width(hp):
    """Width of bh and of each row's bh_t: n_hidden, or a DBN's every layer's biases (DBN.bias_width)."""
    return DBN.bias_width(hp.hidden_layers) if hp.model == "rnn-dbn" else hp.n_hidden


def create_params(hp):
    """The model's variables, named as in the paper; those hp.model does not use are None."""
    nv, nh, nr = hp.n_visible, hidden_width(hp), recurrent_units(hp)

    def normal(shape, std, name):
        return tf.Variable(tf.random.normal(shape, stddev=std), name=name)

    def zeros(shape, name):
        return tf.Variable(tf.zeros(shape), name=name)

    g = GATES[hp.cell]
    bu = (tf.Variable(tf.concat([tf.zeros([nr]), tf.ones([nr]), tf.zeros([2 * nr])], 0), name="bu")
          if hp.cell == "lstm" else zeros([g * nr], "bu"))          # an LSTM starts with its forget gates open
    make = dict(
        W=lambda: normal([nv, hp.n_hidden], hp.init_std_W, "W"),
        W_dbn=lambda: tuple(normal([below, above], hp.init_std_W, f"W{l + 2}")
                            for l, (below, above) in enumerate(zip(hp.hidden_layers, hp.hidden_layers[1:]))),
        V=lambda: normal([hp.n_hidden, nv], hp.init_std_W, "V"),
        bv=lambda: zeros([nv], "bv"),
        bh=lambda: zeros([nh], "bh"),
        Wuh=lambda: normal([nr, nh], hp.init_std_rnn, "Wuh"),
        Wuv=lambda: normal([nr, nv], hp.init_std_rnn, "Wuv"),
        Wvu=lambda: normal([nv, g * nr], hp.init_std_rnn, "Wvu"),
        Wuu=lambda: normal([nr, g * nr], hp.init_std_rnn, "Wuu"),
        bu=lambda: bu,
        u0=lambda: zeros([nr], "u0"),
    )
    used = MODEL_PARAMS[hp.model]
    return Params(**{name: make[name]() if name in used else None for name in Params._fields})


# The recurrence u_t (--cell). Its input weights Wvu, recurrent weights Wuu and biases bu hold
# one block of n_hidden_recurrent columns per gate: rnn (the paper's) u_t = tanh(bu + v_t Wvu +
# u_{t-1} Wuu); gru (Cho et al. 2014) gates z, r and the candidate n; lstm (Hochreiter &
# Schmidhuber 1997) gates i, f, o and the candidate g, with a cell c beside the output h.
# Its state is u (rnn, gru) or [h, c] (lstm); the RBM's biases always come from u or h.
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def recurrent_units(hp):
    """Units of the recurrent state u: n_hidden_recurrent, or for the RTRBM its RBM's n_hidden."""
    return hp.n_hidden if hp.model == "rtrbm" else hp.n_hidden_recurrent


def state_size(hp):
    """Width of the recurrent state: recurrent_units, twice that for an LSTM (output and cell)."""
    return recurrent_units(hp) * (2 if hp.cell == "lstm" else 1)


def recurrence_view(hp, p):
    """The Params that the recurrence and conditional_biases read: p itself, except for the RTRBM.

    The RTRBM's state r_t = sigmoid(v_t W + bh + r_{t-1} Wuh) is, with sigmoid(z) = (1 + tanh(z/2)) / 2,
    r_t = (1 + s_t) / 2 for the tanh cell s_t = tanh(v_t (W/2) + (bh/2 + 1 Wuh/4) + s_{t-1} (Wuh/4)), and
    its biases bh + r_{t-1} Wuh = (bh + 1 Wuh/2) + s_{t-1} (Wuh/2), and likewise bv_t. So the paper's rnn
    cell, with its hand-written backward pass, runs the RTRBM on these tensors of its variables; the
    state u carried and fed back is s, and u0 is s_0 (r_0 = 1/2 where u0 = 0). Gradients flow to W,
    bh, Wuh, Wuv and bv through both the RBM and the recurrence.
    """
    if hp.model != "rtrbm":
        return p
    column_sums = lambda a: tf.reduce_sum(a, 0)
    return p._replace(Wvu=0.5 * p.W, bu=0.5 * p.bh + 0.25 * column_sums(p.Wuh), Wuu=0.25 * p.Wuh,
                      Wuh=0.5 * p.Wuh, bh=p.bh + 0.5 * column_sums(p.Wuh),
                      Wuv=0.5 * p.Wuv, bv=p.bv + 0.5 * column_sums(p.Wuv))


def initial_state(cell, p):
    """The state before a song's first row: u0, with a zero cell for an LSTM."""
    return tf.concat([p.u0, tf.zeros_like(p.u0)], -1) if cell == "lstm" else p.u0


def output(cell, s, nr):
    """The part of state s that conditions the RBM: u (rnn, gru) or h (lstm)."""
    return s[..., :nr] if cell == "lstm" else s


def recurrent_weights(cell, Wuu, nr):
    """Wuu as cell_update takes it: split once, outside any loop, where the cell uses its parts
    apart (gru: the gates' columns and the candidate's)."""
    return tf.split(Wuu, [2 * nr, nr], axis=1) if cell == "gru" else Wuu


def lstm_activations(z, nr):
    """(i, f, o, g): the gates and the candidate, from their pre-activations z = x_in + h_{t-1} Wuu."""
    ifo, g = tf.split(z, [3 * nr, nr], axis=-1)
    return (*tf.split(tf.sigmoid(ifo), 3, axis=-1), tf.tanh(g))


def lstm_gates(z, c, nr):
    """(h, c) after a row, from the pre-activations z and the cell c before it."""
    i, f, o, g = lstm_activations(z, nr)
    c = f * c + i * g
    return o * tf.tanh(c), c


def cell_update(cell, s, x_in, Wuu, nr):
    """The state after a row, from the state s before it and the row's input x_in = v_t Wvu + bu
    (both with the same leading shape); gru and lstm as in their papers' usual form. Wuu is
    recurrent_weights(cell, ...). Gates are cut with tf.split, whose gradient is one concat, not
    one padded copy per slice: fewer ops per step, which is what a step costs here."""
    def times(a, b):      # matmul where it can: fewer ops per step than tensordot
        return tf.matmul(a, b) if a.shape.rank == 2 else tf.tensordot(a, b, 1)

    if cell == "rnn":
        return tf.tanh(x_in + times(s, Wuu))
    if cell == "gru":
        W_zr, W_n = Wuu
        x_zr, x_n = tf.split(x_in, [2 * nr, nr], axis=-1)
        z, r = tf.split(tf.sigmoid(x_zr + times(s, W_zr)), 2, axis=-1)
        n = tf.tanh(x_n + times(r * s, W_n))
        return n + z * (s - n)                               # (1 - z) n + z s
    h, c = tf.split(s, 2, axis=-1)
    return tf.concat(lstm_gates(x_in + times(h, Wuu), c, nr), -1)


CLOSED = -1e30    # a gate pre-activation whose sigmoid, and its gradient, are exactly 0 in float32


def rnn_states(x, u_carry, reset, p, cell="rnn"):
    """Run the recurrence over a chunk; returns (u_tm1, u_last).

    x: [lanes, time, n_visible]; u_carry: [lanes, state], the state before the chunk;
    reset: [lanes, time]: where it is 1 a new song starts and the state before it is the initial
    state. u_tm1: [lanes, time, nr], the output (u or h) before each row; u_last: [lanes, state].

    Padding (training.pack_lanes) only ends a lane: after a padded row come only padded rows or a
    song start. So the recurrence runs through padding like any row, and what it computes there
    reaches nothing: the cost weighs padded rows by 0, and a song start does not look back.

    A step costs its number of ops more than its arithmetic here, so what can move out of the
    loop does. For rnn and lstm, whose state before a row enters the row only through
    s Wuu, a song start's (keep s + start) Wuu is keep (s Wuu) + start Wuu, and start Wuu joins
    the input before the loop. An LSTM needs no keep in the loop at all: its cell starts at 0 by
    a closed forget gate at the song start, and its h before the song start is 0 by a closed
    output gate on the row before (whose h only the song start would read), both set in the
    input; before the chunk's first row, keep scales the carried state. The gru's state before
    a row also enters it outside s Wuu, so its loop keeps (gru_recurrence). All three backward
    passes are written by hand.
    """
    lanes, steps = tf.shape(x)[0], tf.shape(x)[1]
    nr = int(p.u0.shape[0])
    x_in = tf.reshape(tf.matmul(tf.reshape(x, [-1, int(x.shape[-1])]), p.Wvu) + p.bu,
                      [lanes, steps, -1])                              # [lanes, time, gates * nr], one matmul for all rows
    x_in.set_shape([x.shape[0], None, p.Wvu.shape[1]])
    reset = reset[:, :, None]                                          # [lanes, time, 1]
    keep = 1.0 - reset

    time_major = lambda a: tf.transpose(a, [1, 0, 2])
    if cell == "gru":
        H, u_last = gru_recurrence(time_major(x_in), time_major(keep), time_major(reset * p.u0), u_carry, p.Wuu)
    else:
        x_in += reset * tf.matmul(p.u0[None], p.Wuu)                   # the initial state's share at a song start
        if cell == "lstm":
            closed = lambda gate: tf.repeat(tf.one_hot(gate, 4, on_value=CLOSED), nr)     # [4 nr]: i, f, o, g
            before_start = tf.concat([reset[:, 1:], tf.zeros_like(reset[:, :1])], axis=1)
            x_in += reset * closed(1) + before_start * closed(2)
            H, u_last = recurrence(cell, time_major(x_in), None, keep[:, 0] * u_carry, p.Wuu)
        else:
            H, u_last = recurrence(cell, time_major(x_in), time_major(keep), u_carry, p.Wuu)
    u_prev = time_major(tf.concat([output(cell, u_carry, nr)[None], H[:-1]], 0))     # [lanes, time, nr]: before each row
    return keep * u_prev + reset * p.u0, u_last


def row_loop(step, inputs, carry, n_outputs, reverse=False):
    """A tf.while_loop over rows: carry, outputs = step(row t of each of `inputs`, carry) for t
    from first to last (last to first where reverse); returns (the last carry, each output
    stacked, [time, ...]). Unlike tf.scan it writes only the outputs and checks one condition
    a step. inputs: time-major tensors; carry: a tuple of tensors."""
    steps = tf.shape(inputs[0])[0]
    rows_of = [tf.TensorArray(a.dtype, steps, element_shape=a.shape[1:]).unstack(a) for a in inputs]

    def body(t, carry, outs):
        carry, new = step([a.read(t) for a in rows_of], carry)
        return t + (-1 if reverse else 1), carry, tuple(o.write(t, v) for o, v in zip(outs, new))
    outs = tuple(tf.TensorArray(tf.float32, steps, element_shape=inputs[0].shape[1:-1] + [None])
                 for _ in range(n_outputs))
    _, carry, outs = tf.while_loop((lambda t, *_: t >= 0) if reverse else (lambda t, *_: t < steps), body,
                                   (steps - 1 if reverse else 0, tuple(carry), outs))
    return carry, tuple(o.stack() for o in outs)


def recurrence(cell, x_in, keep, s0, Wuu):
    """(H, s_last): the outputs after each row of the rnn or lstm cell, time-major
    [time, lanes, nr], and the state after the last row [lanes, state]; with the backward pass
    (backpropagation through time) written by hand.

    x_in: [time, lanes, gates * nr], each row's input with a song start's u0 Wuu (and an LSTM's
    closed gates) in it; keep: [time, lanes, 1], 1 - reset, for the rnn cell (None for the
    lstm, see rnn_states); s0: [lanes, state]. Row t's pre-activation is
    z_t = x_in_t + keep_t (h_{t-1} Wuu).

    A loop step costs its number of ops here, not its arithmetic (8 lanes of 100 units), and
    TensorFlow's own gradient of a scan pushes every value that a step's gradient needs on a
    stack and replays the step's gradient op by op: about 150 ops per LSTM step (90 for the
    rnn cell). By hand, the gates are recomputed for all rows at once after the forward loop,
    and so is everything of the backward pass that does not wait on the next row's gradient;
    the backward loop carries the gradient of the state before each row and writes dz, of
    which the weight gradient is one matmul over all rows. The loops carry and read tuples: a
    split or concat per step costs more than another loop variable.
    """
    nr = int(Wuu.shape[0])

    @tf.custom_gradient
    def run(x_in, s0, Wuu):
        if cell == "rnn":
            def step(row, state):
                (x_in_t, keep_t), (s_prev,) = row, state
                s = tf.tanh(x_in_t + keep_t * tf.matmul(s_prev, Wuu))
                return (s,), (s,)
            last, (H,) = row_loop(step, (x_in, keep), (s0,), 1)                       # [time, lanes, nr]
        else:
            def step(row, state):
                state = lstm_gates(row[0] + tf.matmul(state[0], Wuu), state[1], nr)
                return state, state
            last, (H, C) = row_loop(step, (x_in,), tuple(tf.split(s0, 2, axis=-1)), 2)  # [time, lanes, nr] each
        s_last = tf.concat(last, -1)

        def grad(dH, ds_last):
            h_prev = tf.concat([output(cell, s0, nr)[None], H[:-1]], 0)               # [time, lanes, nr]: before each row
            # Per row: with d the gradient of its output (dH_t plus what the row after sends back),
            # dz = d times coefficients, and the row sends back keep (dz Wuu^T) [and the lstm's e f].
            if cell == "rnn":
                coefficients = (1.0 - tf.square(H), keep)                              # d u / d z, ...
                h_prev *= keep
                carry = (ds_last,)
            else:
                i, f, o, g = lstm_activations(x_in + tf.tensordot(h_prev, Wuu, 1), nr)   # all rows at once
                c_prev = tf.concat([s0[None, :, nr:], C[:-1]], 0)
                tc = tf.tanh(C)
                coefficients = (o * (1.0 - tf.square(tc)),                            # d h / d c
                                tf.concat([g * i * (1.0 - i), c_prev * f * (1.0 - f), tc * o * (1.0 - o),
                                           i * (1.0 - tf.square(g))], -1),             # dz = [e, e, dh, e] this
                                f)
                carry = tuple(tf.split(ds_last, 2, axis=-1))
            WuuT = tf.transpose(Wuu)

            def back_step(row, sent):
                """Row t: from what row t + 1 sent back, what it sends to the row before, and dz_t."""
                dH_t, *k = row
                dh = dH_t + sent[0]
                if cell == "rnn":
                    dz = dh * k[0]
                    return (k[1] * tf.matmul(dz, WuuT),), (dz,)
                P, Q, f_t = k
                e = sent[1] + dh * P                                                   # d / d(new cell)
                dz = tf.concat([e, e, dh, e], -1) * Q
                return (tf.matmul(dz, WuuT), e * f_t), (dz,)
            sent, (dZ,) = row_loop(back_step, (dH,) + coefficients, carry, 1, reverse=True)   # [time, lanes, gates * nr]
            rows = lambda a: tf.reshape(a, [-1, int(a.shape[-1])])
            dWuu = tf.matmul(rows(h_prev), rows(dZ), transpose_a=True)
            return dZ, tf.concat(sent, -1), dWuu

        return (H, s_last), grad

    return run(x_in, s0, Wuu)


def gru_recurrence(x_in, keep, start, s0, Wuu):
    """(H, s_last) of the gru cell, as recurrence's for rnn and lstm, with its backward pass
    written by hand in the same way.

    x_in: [time, lanes, 3 nr], each row's input, the gates z, r and then the candidate n;
    keep: [time, lanes, 1], 1 - reset; start: [time, lanes, nr], reset u0. The state a row
    starts from is s_t = keep_t s_{t-1} + start_t, and the row gives
    s_t' = n + z (s_t - n), with [z, r] = sigmoid(x_zr + s_t W_zr), n = tanh(x_n + (r s_t) W_n).

    Per row, with d the gradient of its output: n's pre-activation gets d A, z's d B, and with
    g = d A W_n^T, r's gets g C (A, B and C from the row's gates, all rows at once after the
    forward loop); the gradient of s_t is d z + g r + [d B, g C] W_zr^T, of which the row
    before gets keep_t times. The backward loop writes the gradient of each s_t, which is that of
    start_t; the gates' gradients are computed from it for all rows at once.
    """
    nr = int(Wuu.shape[0])

    @tf.custom_gradient
    def run(x_in, start, s0, Wuu):
        Wuu_split = recurrent_weights("gru", Wuu, nr)

        def step(row, state):
            x_in_t, keep_t, start_t = row
            s = cell_update("gru", keep_t * state[0] + start_t, x_in_t, Wuu_split, nr)
            return (s,), (s,)
        (s_last,), (H,) = row_loop(step, (x_in, keep, start), (s0,), 1)                 # [time, lanes, nr]

        def grad(dH, ds_last):
            W_zr, W_n = Wuu_split
            x_zr, x_n = tf.split(x_in, [2 * nr, nr], axis=-1)
            S = keep * tf.concat([s0[None], H[:-1]], 0) + start                           # s_t: each row's start
            z, r = tf.split(tf.sigmoid(x_zr + tf.tensordot(S, W_zr, 1)), 2, axis=-1)      # all rows at once
            rS = r * S
            n = tf.tanh(x_n + tf.tensordot(rS, W_n, 1))
            A = (1.0 - z) * (1.0 - tf.square(n))                                          # d n_pre / d s_t'
            B = (S - n) * z * (1.0 - z)                                                   # d z_pre / d s_t'
            C = S * r * (1.0 - r)                                                         # d r_pre / d (r s_t)
            W_nT, W_zrT = tf.transpose(W_n), tf.transpose(W_zr)

            def back_step(row, sent):
                """Row t: from what row t + 1 sent back, the gradient of s_t; the row before gets keep_t times it."""
                dH_t, A_t, B_t, C_t, z_t, r_t, keep_t = row
                d = dH_t + sent[0]
                g = tf.matmul(d * A_t, W_nT)
                dS_t = d * z_t + g * r_t + tf.matmul(tf.concat([d * B_t, g * C_t], -1), W_zrT)
                return (keep_t * dS_t,), (dS_t,)
            (ds0,), (dS,) = row_loop(back_step, (dH, A, B, C, z, r, keep), (ds_last,), 1, reverse=True)
            d = dH + tf.concat([(keep * dS)[1:], ds_last[None]], 0)                        # each row's output's gradient
            dn = d * A
            dzr = tf.concat([d * B, tf.tensordot(dn, W_nT, 1) * C], -1)
            rows = lambda a: tf.reshape(a, [-1, int(a.shape[-1])])
            dWuu = tf.concat([tf.matmul(rows(S), rows(dzr), transpose_a=True),
                              tf.matmul(rows(rS), rows(dn), transpose_a=True)], 1)
            return tf.concat([dzr, dn], -1), dS, ds0, dWuu

        return (H, s_last), grad

    return run(x_in, start, s0, Wuu)


def rnn_step(u_tm1, v_t, p, cell="rnn"):
    """The state after row v_t from the state u_tm1 before it, for any leading shape; for the
    paper's rnn, u_t = tanh(bu + v_t Wvu + u_{t-1} Wuu)."""
    nr = int(p.u0.shape[0])
    return cell_update(cell, u_tm1, p.bu + tf.tensordot(v_t, p.Wvu, 1), recurrent_weights(cell, p.Wuu, nr), nr)


def conditional_biases(u_tm1, p):
    """(bv_t, bh_t) of the frame distribution that follows state u_tm1, for any leading shape of
    u_tm1; bh_t is None for a model without hidden units."""
    return (p.bv + tf.tensordot(u_tm1, p.Wuv, 1),
            None if p.bh is None else p.bh + tf.tensordot(u_tm1, p.Wuh, 1))


# The distribution of a frame given its biases bv_t ([rows, nv]) and bh_t ([rows, nh] or None):
# the one interface by which the models differ. Each function takes the frames' rows first.
Conditional = collections.namedtuple("Conditional", [
    "log_prob",     # (v, p, bv_t, bh_t) -> [rows]: exact log p(v_t | v_<t); None for the RBM (its Z is unknown)
    "cost",         # (v, p, bv_t, bh_t, weights, hp, seed, blocks) -> ([] training cost over the weighted rows,
                    #   the negative sample or None)
    "sample",       # (v_prev, p, bv_t, bh_t, k, seed, fused, blocks) -> [rows, nv]: a draw of each frame; the
                    #   RBM's Gibbs chain of k steps starts at v_prev (RBM.generation_sample; k may be the pair
                    #   (k_generate, k_from_silence)), the exact models draw exactly
    "pretrain_costs",  # (v, p, hp, seed) -> [[] cost of each stage]: what pretrains the frame distribution alone,
                       #   on the rows v with its own biases bv, bh (weight_initializations.py); a DBN's stages
                       #   are its layers, trained one after the other (greedy)
    "score",        # (v, p, bv_t, bh_t) -> [rows]: log p(v_t | v_<t) up to a constant of each row's
                    #   distribution (the RBM's -F(v)): what ranks a row's candidates (best_of_sample)
    "scored_sample",  # (v_prev, p, bv_t, bh_t, k, seed, fused, blocks) -> (sample's draws, their score), for a
                      #   sampler that has the score on the way (the NADE's log p); None: score the draws after
    "sample_given",   # (v_prev, p, bv_t, bh_t, k, seed, fused, blocks, clamp, particles) -> [rows, nv]: a draw of
                      #   each frame with clamp's units held at their values, the others drawn given them
    "logits",       # (v, p, bv_t, bh_t) -> [rows, nv]: z with -log p(v_t | v_<t) = sum_i BCE(v_i, z_i), for
                    #   the Gauss-Newton products of --optimizer hf; None where there is no such z
], defaults=(None, None, None))

Clamp = collections.namedtuple("Clamp", [
    "mask",         # [rows, n_visible]: 1 for the units held (a melody's note and the keys above it)
    "values",       # [rows, n_visible]: their values
])


def _rbm_cost(v, p, bv_t, bh_t, weights, hp, seed, blocks):
    if hp.negative_swap:
        RBM.check_chain_length(hp.k_train, room=NEGATIVE_SWAP_SEED)
    start = negative_starts(v, hp.negative_swap, seed)
    v_sample = RBM.gibbs_sample(start, p.W, bv_t, bh_t, hp.k_train, seed, blocks=blocks)
    return RBM.contrastive_gap(v, v_sample, p.W, bv_t, bh_t, weights=weights), v_sample


def _rbm_sample(v_prev, p, bv_t, bh_t, k, seed, fused, blocks, clamp=None):
    k, k_from_silence = k if isinstance(k, tuple) else (k, 0)
    return RBM.generation_sample(v_prev, p.W, bv_t, bh_t, k, seed, fused, blocks, clamp, k_from_silence)


def _rbm_sample_given(v_prev, p, bv_t, bh_t, k, seed, fused, blocks, clamp, particles):
    return _rbm_sample(v_prev, p, bv_t, bh_t, k, seed, fused, blocks, clamp=tuple(clamp))


def _rbm_pretrain_costs(v, p, hp, seed):
    return [RBM.cd_loss(v, p.W, p.bv, p.bh, hp.pretrain_k, seed)]


def _rbm_score(v, p, bv_t, bh_t):
    return -RBM.free_energy(v, p.W, bv_t, bh_t)


def _nade_log_prob(v, p, bv_t, bh_t):
    return NADE.log_prob(v, p.W, p.V, bv_t, bh_t)


def _nade_sample(v_prev, p, bv_t, bh_t, k, seed, fused, blocks):
    return NADE.sample(p.W, p.V, bv_t, bh_t, seed)


def _nade_scored_sample(v_prev, p, bv_t, bh_t, k, seed, fused, blocks):
    return NADE.sample(p.W, p.V, bv_t, bh_t, seed, with_log_prob=True)


def _nade_sample_given(v_prev, p, bv_t, bh_t, k, seed, fused, blocks, clamp, particles):
    """Sequential importance resampling: `particles` frames per row from NADE.sample_given,
    one kept with probability in proportion to the probability of the held units given the
    units drawn before them. The kept frame's distribution tends to p(free units | held units)
    as `particles` grows; 1 keeps the proposal's draw."""
    rows = tf.shape(bv_t)[0]
    tile = lambda a: tf.tile(a, [particles, 1])                                          # particle j of row r: j * rows + r
    drawn, log_w = NADE.sample_given(p.W, p.V, tile(bv_t), tile(bh_t), seed, tile(clamp.mask), tile(clamp.values))
    log_w = tf.transpose(tf.reshape(log_w, [particles, rows]))                           # [rows, particles]
    kept = tf.random.stateless_categorical(log_w, 1, RBM.offset_seed(seed, 1), dtype=tf.int32)[:, 0]
    return tf.gather(drawn, kept * rows + tf.range(rows))


def _bernoulli_log_prob(v, p, bv_t, bh_t):
    return RBM.bernoulli_log_p(v, bv_t + tf.zeros_like(v))     # bv_t may be one vector for every row


def _bernoulli_sample(v_prev, p, bv_t, bh_t, k, seed, fused, blocks):
    return tf.cast(tf.random.stateless_uniform(tf.shape(bv_t), seed) < tf.sigmoid(bv_t), tf.float32)


def _bernoulli_sample_given(v_prev, p, bv_t, bh_t, k, seed, fused, blocks, clamp, particles):
    drawn = _bernoulli_sample(v_prev, p, bv_t, bh_t, k, seed, fused, blocks)           # the units are independent
    return tf.where(clamp.mask > 0, clamp.values, drawn)


def _dbn(p, bv_t, bh_t):
    """(weights [W, W2, ..], biases [(b_l, c_l)]) of the DBN of Params p with the biases bv_t, bh_t."""
    weights = [p.W, *p.W_dbn]
    return weights, DBN.split_biases(bv_t, bh_t, [int(W.shape[1]) for W in weights])


def _dbn_cost(v, p, bv_t, bh_t, weights, hp, seed, blocks):
    layers = len(p.W_dbn) + 1
    if hp.negative_swap:
        RBM.check_chain_length(layers * (hp.k_train + 1), room=NEGATIVE_SWAP_SEED)
    gaps = DBN.layer_gaps(v, *_dbn(p, bv_t, bh_t), hp.k_train, seed, weights, negative_starts(v, hp.negative_swap, seed),
                          blocks)
    return tf.add_n(gaps), None


def _dbn_sample(v_prev, p, bv_t, bh_t, k, seed, fused, blocks):
    k, k_from_silence = k if isinstance(k, tuple) else (k, 0)
    return DBN.sample(v_prev, *_dbn(p, bv_t, bh_t), k, seed, fused, blocks, k_from_silence)


def _dbn_sample_given(v_prev, p, bv_t, bh_t, k, seed, fused, blocks, clamp, particles):
    k, k_from_silence = k if isinstance(k, tuple) else (k, 0)
    return DBN.sample_given(v_prev, *_dbn(p, bv_t, bh_t), k, seed, clamp.mask, clamp.values, particles, fused, blocks,
                            k_from_silence)


def _dbn_pretrain_costs(v, p, hp, seed):
    weights, biases = _dbn(p, p.bv, p.bh)
    return DBN.layer_gaps(v, weights, biases, hp.pretrain_k, seed)


def _dbn_score(v, p, bv_t, bh_t):
    return DBN.score(v, *_dbn(p, bv_t, bh_t))


def _nade_logits(v, p, bv_t, bh_t):
    return NADE.logits(v, p.W, p.V, bv_t, bh_t)


def _bernoulli_logits(v, p, bv_t, bh_t):
    return bv_t + tf.zeros_like(v)


def _exact(log_prob, sample, scored_sample=None, sample_given=None, logits=None):
    """The Conditional of a distribution with an exact log p: trained on its negative log-likelihood."""
    def cost(v, p, bv_t, bh_t, weights, hp, seed, blocks):
        return RBM.weighted_mean(-log_prob(v, p, bv_t, bh_t), weights), None

    def pretrain_costs(v, p, hp, seed):
        return [tf.reduce_mean(-log_prob(v, p, p.bv, p.bh))]

    return Conditional(log_prob=log_prob, cost=cost, sample=sample, pretrain_costs=pretrain_costs, score=log_prob,
                       scored_sample=scored_sample, sample_given=sample_given, logits=logits)


CONDITIONALS = {
    "rnn-rbm": Conditional(log_prob=None, cost=_rbm_cost, sample=_rbm_sample, pretrain_costs=_rbm_pretrain_costs,
                           score=_rbm_score, sample_given=_rbm_sample_given),
    "rnn-nade": _exact(_nade_log_prob, _nade_sample, _nade_scored_sample, _nade_sample_given, _nade_logits),
    "rnn": _exact(_bernoulli_log_prob, _bernoulli_sample, sample_given=_bernoulli_sample_given, logits=_bernoulli_logits),
    "rtrbm": Conditional(log_prob=None, cost=_rbm_cost, sample=_rbm_sample, pretrain_costs=_rbm_pretrain_costs,
                         score=_rbm_score, sample_given=_rbm_sample_given),
    # log p of a DBN has no closed form: DBN.bound gives a lower bound (evaluation.py)
    "rnn-dbn": Conditional(log_prob=None, cost=_dbn_cost, sample=_dbn_sample, pretrain_costs=_dbn_pretrain_costs,
                           score=_dbn_score, sample_given=_dbn_sample_given),
}


def best_of_sample(conditional, best_of, v_prev, p, bv_t, bh_t, k, seed, fused, blocks, misses=None, clamp=None,
                   particles=1):
    """A frame per row: the likeliest of `best_of` draws of conditional.sample, ranked by
    conditional.score. Sharpening (sharpen_checkpoint.py) lowers the temperature of each unit of
    a NADE; this lowers it over whole frames. Frame x is kept with probability F(x)^K - F'(x)^K
    (K = best_of, F(x) = p(score <= score(x)), F' with <), which tends to the likeliest frame as K
    grows, so notes the model wants together stay together. 1 is plain sampling.

    `misses` ((frames [rows, nv]) -> [rows], e.g. voice_misses) ranks first: of a row's draws,
    only those with its fewest misses compete on the score.

    With a Clamp, every draw holds its units (conditional.sample_given, with `particles`)."""
    def draw(v_prev, bv_t, bh_t, clamp):
        if clamp is None:
            return conditional.sample(v_prev, p, bv_t, bh_t, k, seed, fused, blocks)
        return conditional.sample_given(v_prev, p, bv_t, bh_t, k, seed, fused, blocks, clamp, particles)

    if best_of == 1:
        return draw(v_prev, bv_t, bh_t, clamp)
    rows = tf.shape(bv_t)[0]
    repeat = lambda a: None if a is None else tf.tile(a, [best_of, 1])                  # draw d of row r: d * rows + r
    v_prev, bv_t, bh_t = repeat(v_prev), repeat(bv_t), repeat(bh_t)
    if clamp is not None:
        drawn = draw(v_prev, bv_t, bh_t, Clamp(*map(repeat, clamp)))
        score = conditional.score(drawn, p, bv_t, bh_t)
    elif conditional.scored_sample is not None:
        drawn, score = conditional.scored_sample(v_prev, p, bv_t, bh_t, k, seed, fused, blocks)
    else:
        drawn = conditional.sample(v_prev, p, bv_t, bh_t, k, seed, fused, blocks)
        score = conditional.score(drawn, p, bv_t, bh_t)
    score = tf.reshape(score, [best_of, rows])
    if misses is not None:
        missed = tf.reshape(misses(drawn), [best_of, rows])
        score = tf.where(missed > tf.reduce_min(missed, 0, keepdims=True), tf.fill(tf.shape(score), float("-inf")), score)
    return tf.gather(drawn, tf.argmax(score, 0, output_type=tf.int32) * rows + tf.range(rows))


def voice_misses(hp):
    """(frames [rows, nv]) -> [rows]: how many 16th-note steps of each frame sound other than
    hp.voices notes (play bits); None where hp.voices is 0 (any count)."""
    if not hp.voices:
        return None

    def misses(frames):
        play = tf.reshape(frames, [-1, hp.steps_per_rbm, hp.frame_size])[:, :, :hp.n_notes]   # [rows, steps, notes]
        return tf.reduce_sum(tf.cast(tf.not_equal(tf.reduce_sum(play, -1), float(hp.voices)), tf.int32), -1)
    return misses


def exact(hp):
    """Whether hp's model has an exact likelihood (no Gibbs chains, no AIS)."""
    return CONDITIONALS[hp.model].log_prob is not None


ROWS_PER_BLOCK = 800   # rows per side-by-side Gibbs chain: the fastest block size here, at the original's model size


FUSE_FROM = 64         # songs generated side by side from which XLA-fused sampling is faster (benchmark.py)


def gibbs_blocks(rows, cores):
    """How many side-by-side Gibbs chains (RBM.gibbs_sample's blocks) to cut `rows` rows into:
    blocks of about ROWS_PER_BLOCK rows, at most one per core."""
    return max(1, min(cores, math.ceil(rows / ROWS_PER_BLOCK)))


def sampling_layout(num_songs, cores, hp=None):
    """(fused, blocks) of build_generation_graph for generating `num_songs` songs side by side
    (Gibbs chains only: hp's model, if given, may draw exactly; its best_of draws of each song's
    row are chains side by side too)."""
    if hp is not None and exact(hp):
        return False, 1
    chains = num_songs * (hp.best_of if hp is not None else 1)
    fused = chains >= FUSE_FROM
    return fused, gibbs_blocks(chains, cores) if fused else 1


def session_config(blocks, cores):
    """Session options for a graph whose Gibbs chains run in `blocks` blocks: with more than one,
    each op runs on one core and as many ops run at once as there are cores, so each chain has a
    core to itself (a quarter faster here than TF's default of spreading every op over all cores)."""
    if blocks == 1:
        return tf.ConfigProto()
    return tf.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=cores)


RnnPretraining = collections.namedtuple("RnnPretraining", [
    "x", "mask", "reset", "u_carry", "lr", "seed",   # as in RnnRbm (seed is unused: nothing is sampled)
    "u_final",      # [lanes, state_size]
    "cost",         # []: mean over real rows of -log p(v_t | v_<t) with independent Bernoulli units, nats per row
    "train_op",
    "optimizer_state",  # {name: variable}, as in RnnRbm
    "bo",           # [n_visible]: the output biases of this RNN, not part of the RNN-RBM
])


def chunk_inputs(hp, lanes=None):
    """Placeholders of a training chunk: (x, mask, reset, u_carry, lr, seed), as in RnnRbm; with
    `lanes` fixed where the caller knows it (training.lane_count), any number where None."""
    nv, ns = hp.n_visible, state_size(hp)
    x = tf.placeholder(tf.float32, [lanes, None, nv], name="x")                            # [lanes, time, nv]
    n, steps = tf.shape(x)[0], tf.shape(x)[1]
    mask = tf.placeholder_with_default(tf.ones([n, steps]), [lanes, None], name="mask")    # [lanes, time]
    song_starts = tf.concat([tf.ones([n, 1]), tf.zeros([n, steps - 1])], axis=1)
    reset = tf.placeholder_with_default(song_starts, [lanes, None], name="reset")         # [lanes, time]
    u_carry = tf.placeholder_with_default(tf.zeros([n, ns]), [lanes, ns], name="u_carry")  # [lanes, state]
    lr = tf.placeholder_with_default(hp.lr, [], name="lr")
    seed = tf.placeholder_with_default(tf.constant([0, 0], tf.int64), [2], name="seed")
    return x, mask, reset, u_carry, lr, seed


def minimize(hp, loss, var_list, lr):
    """(train op of hp.optimizer, every gradient clipped to [-grad_clip, grad_clip]; the optimizer's
    variables as {name: variable}, e.g. 'adam/W/m' and 'adam/beta1_power', for a checkpoint to carry
    so that a resumed run goes on with the same moments)."""
    optimizer = tf.train.AdamOptimizer(lr) if hp.optimizer == "adam" else tf.train.GradientDescentOptimizer(lr)
    grads = optimizer.compute_gradients(loss, var_list=var_list)
    train_op = optimizer.apply_gradients([(tf.clip_by_value(g, -hp.grad_clip, hp.grad_clip), v) for g, v in grads])
    state, slots = {}, set()
    for var in var_list:
        for slot_name in optimizer.get_slot_names():
            slot = optimizer.get_slot(var, slot_name)
            if slot is not None:
                state[f"{hp.optimizer}/{var.op.name}/{slot_name}"] = slot
                slots.add(slot.op.name)
    for var in optimizer.variables():
        if var.op.name not in slots:
            state[f"{hp.optimizer}/{var.op.name}"] = var
    return train_op, state


NEGATIVE_SWAP_SEED = 1000   # negative_starts' seeds: after those of a Gibbs chain of up to 500 steps


def negative_starts(rows, swap, seed):
    """Where the negative Gibbs chains start: each row itself (CD-k), except that a fraction `swap`
    of them, drawn at random, start at another row of the batch, drawn at random (a padding row is
    silence). Chains from other rows reach states that the context makes wrong, which CD from the
    data never visits. Uses the seeds seed + [0, NEGATIVE_SWAP_SEED] and the one after, clear of the
    Gibbs chain's own (RBM.check_chain_length in build_training_graph)."""
    if not swap:
        return rows
    n = tf.shape(rows)[0]
    other = tf.gather(rows, tf.random.stateless_uniform([n], RBM.offset_seed(seed, NEGATIVE_SWAP_SEED), 0, n, dtype=tf.int32))
    swapped = tf.random.stateless_uniform([n], RBM.offset_seed(seed, NEGATIVE_SWAP_SEED + 1)) < swap
    return tf.where(swapped[:, None] & tf.ones_like(rows, tf.bool), other, rows)


def build_training_graph(hp, blocks=1, lanes=None):
    """Free-energy training graph over a chunk of rows in each of several lanes (`lanes` of them
    where not None: a faster graph), its negative Gibbs chains cut into `blocks` side-by-side
    blocks (gibbs_blocks)."""
    nv = hp.n_visible
    p = create_params(hp)
    if hp.optimizer == "hf":
        return build_hf_training_graph(hp, p)
    view = recurrence_view(hp, p)
    x, mask, reset, u_carry, lr, seed = chunk_inputs(hp, lanes)
    u_tm1, u_last = rnn_states(x, u_carry, reset, view, hp.cell)
    bv_t, bh_t = conditional_biases(u_tm1, view)

    rows = tf.reshape(x, [-1, nv])                                                       # [lanes * time, nv]
    bv_rows = tf.reshape(bv_t, [-1, nv])                                                 # [lanes * time, nv]
    bh_rows = None if bh_t is None else tf.reshape(bh_t, [-1, hidden_width(hp)])              # [lanes * time, nh]
    cost, v_sample = CONDITIONALS[hp.model].cost(rows, p, bv_rows, bh_rows, tf.reshape(mask, [-1]), hp, seed, blocks)

    loss = cost
    if hp.weight_decay:
        loss += hp.weight_decay * tf.add_n([tf.nn.l2_loss(var) for var in field_variables(p, WEIGHTS)])
    train_op, optimizer_state = minimize(hp, loss, variables(p), lr)
    return RnnRbm(x=x, mask=mask, reset=reset, u_carry=u_carry, lr=lr, seed=seed, u_tm1=u_tm1, bv_t=bv_t, bh_t=bh_t,
                  u_final=u_last, v_sample=v_sample, cost=cost, train_op=train_op, params=p,
                  optimizer_state=optimizer_state, blocks=blocks)


HfGraph = collections.namedtuple("HfGraph", [
    "params",       # the variables HF moves; every flat vector below lists their entries in this order
    "loss_sum",     # []: the sum over real rows of -log p(v_t | v_<t) (the cost times the rows)
    "rows",         # []: real rows
    "grad_sum",     # [n]: the gradient of loss_sum
    "direction",    # placeholder [n]: d
    "lam",          # placeholder []: the damping lam; mu lam weighs the structural damping
    "product_sum",  # [n]: (G + hf_structural lam S) d, each summed over the real rows
    "shift",        # op: every parameter += its part of `direction`
    "logits",       # [lanes * time, nv]: z, whose cross-entropies with the rows are the loss
])


def recurrence_jvp(x, p, vp, cell):
    """(u_tm1, R u_tm1): the recurrence's output before each row of whole songs x ([lanes, time,
    nv], each lane a song from the initial state), and its derivative along the parameter
    direction vp (Params of tensors shaped as p's): forward mode, one row at a time (HF.jvp in
    the loop body, where its second derivative stays inside the loop)."""
    nr = int(p.u0.shape[0])
    lanes = tf.shape(x)[0]
    time_major = lambda a: tf.transpose(a, [1, 0, 2])
    x_in = time_major(tf.tensordot(x, p.Wvu, 1) + p.bu)                                 # [time, lanes, gates * nr]
    r_in = time_major(tf.tensordot(x, vp.Wvu, 1) + vp.bu)

    def step(carry, row):
        (s, r_s), (x_t, r_x) = carry, row
        s_in, x_local, Wuu = tf.identity(s), tf.identity(x_t), tf.identity(p.Wuu)
        s_new = cell_update(cell, s_in, x_local, recurrent_weights(cell, Wuu, nr), nr)
        return s_new, HF.jvp(s_new, [s_in, x_local, Wuu], [r_s, r_x, vp.Wuu])

    start = lambda q: tf.tile(initial_state(cell, q)[None], [lanes, 1])                 # [lanes, state]
    states, r_states = tf.scan(step, (x_in, r_in), initializer=(start(p), start(vp)))   # [time, lanes, state]
    before = lambda first, after: time_major(output(cell, tf.concat([first[None], after[:-1]], 0), nr))
    return before(start(p), states), before(start(vp), r_states)


def build_hf_training_graph(hp, p):
    """The graph of --optimizer hf (HF.py) for a model with logits (rnn-nade, rnn): whole songs,
    one per lane from u0, fed in batches whose sums training.hf_epoch adds up."""
    conditional = CONDITIONALS[hp.model]
    nv, theta = hp.n_visible, variables(p)
    x, mask, reset, u_carry, lr, seed = chunk_inputs(hp)
    u_tm1, u_last = rnn_states(x, u_carry, reset, p, hp.cell)
    bv_t, bh_t = conditional_biases(u_tm1, p)
    rows, weights = tf.reshape(x, [-1, nv]), tf.reshape(mask, [-1, 1])                 # [lanes * time, nv], [.., 1]
    own = {"bv_t": tf.identity(tf.reshape(bv_t, [-1, nv]))}                            # what the logits are a function of
    if bh_t is not None:
        own["bh_t"] = tf.identity(tf.reshape(bh_t, [-1, hp.n_hidden]))
    for name in ("W", "V"):
        if getattr(p, name) is not None:
            own[name] = tf.identity(getattr(p, name))
    z = conditional.logits(rows, p._replace(W=own.get("W"), V=own.get("V")), own["bv_t"], own.get("bh_t"))
    loss_sum = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=rows, logits=z) * weights)
    cost = loss_sum / tf.maximum(tf.reduce_sum(mask), 1.0)

    direction = tf.placeholder(tf.float32, [sum(int(np.prod(v.shape.as_list())) for v in theta)], name="direction")
    lam = tf.placeholder(tf.float32, [], name="lam")
    vp = Params(**{name: None for name in Params._fields})._replace(
        **dict(zip(named_variables(p), HF.unflat(direction, theta))))
    u_r, r_u = recurrence_jvp(x, p, vp, hp.cell)
    moved = lambda bias, W_u, v_bias, v_W_u: tf.reshape(v_bias + tf.tensordot(r_u, W_u, 1) + tf.tensordot(u_r, v_W_u, 1),
                                                      [-1, int(bias.shape[-1])])
    along = {"bv_t": moved(p.bv, p.Wuv, vp.bv, vp.Wuv), "W": vp.W, "V": vp.V}
    if bh_t is not None:
        along["bh_t"] = moved(p.bh, p.Wuh, vp.bh, vp.Wuh)
    r_z = HF.jvp(z, [own[name] for name in own], [along[name] for name in own])
    curvature = tf.sigmoid(z) * (1.0 - tf.sigmoid(z)) * weights                      # the loss's Hessian in z, diagonal
    gauss_newton = HF.flat(HF.transpose_product(z, theta, curvature * r_z))
    structural = HF.flat(HF.transpose_product(u_tm1, theta, r_u * mask[:, :, None]))
    hf = HfGraph(params=theta, loss_sum=loss_sum, rows=tf.reduce_sum(mask),
                 grad_sum=HF.flat(HF.transpose_product(loss_sum, theta, None)), direction=direction, lam=lam,
                 product_sum=gauss_newton + hp.hf_structural * lam * structural,
                 shift=tf.group([var.assign_add(part) for var, part in zip(theta, HF.unflat(direction, theta))]),
                 logits=z)
    state = {"hf/lambda": tf.Variable(hp.hf_damping, name="hf_lambda"),
             "hf/delta": tf.Variable(tf.zeros_like(direction), name="hf_delta")}
    return RnnRbm(x=x, mask=mask, reset=reset, u_carry=u_carry, lr=lr, seed=seed, u_tm1=u_tm1, bv_t=bv_t, bh_t=bh_t,
                  u_final=u_last, v_sample=None, cost=cost, train_op=None, params=p, optimizer_state=state, blocks=1,
                  hf=hf)


def build_rnn_pretraining_graph(hp, p, lanes=None):
    """The RNN of `p` alone, predicting each row with independent Bernoulli units,
    p(v_t,i = 1 | v_<t) = sigmoid(bo + u_{t-1} Wuv), trained by exact gradients of -log p.

    The paper's other initialisation: Wvu, Wuu, bu, u0 and Wuv learn the temporal structure
    here without the noise of CD; bo stands in for the RBM, whose W, bv, bh stay as they are.
    `lanes` as in build_training_graph.
    """
    x, mask, reset, u_carry, lr, seed = chunk_inputs(hp, lanes)
    bo = tf.Variable(tf.zeros([hp.n_visible]), name="bo")
    u_tm1, u_last = rnn_states(x, u_carry, reset, p, hp.cell)
    logits = bo + tf.tensordot(u_tm1, p.Wuv, 1)                                          # [lanes, time, nv]
    nll = -RBM.bernoulli_log_p(x, logits)                                                # [lanes, time]
    cost = RBM.weighted_mean(nll, mask)
    train_op, optimizer_state = minimize(hp, cost, [p.Wuv, p.Wvu, p.Wuu, p.bu, p.u0, bo], lr)
    return RnnPretraining(x=x, mask=mask, reset=reset, u_carry=u_carry, lr=lr, seed=seed, u_final=u_last, cost=cost,
                          train_op=train_op, optimizer_state=optimizer_state, bo=bo)


FramePretraining = collections.namedtuple("FramePretraining", [
    "x",            # placeholder [batch, n_visible]: rows
    "seed",         # placeholder [2] int64: seed of this batch's Gibbs chain (RBM.py), unused by exact models
    "costs",        # [[] of each stage]: the batch's cost, mean over rows: CD-k for the RBM (each layer's, one
                    #   stage each, for a DBN), -log p for the exact models
    "train_ops",    # [each stage's]: SGD at pretrain_lr on the frame distribution's own variables (FRAME_PARAMS)
])


def pretraining_stages(hp):
    """Stages of frame pretraining, each of pretrain_epochs: one, or a DBN's layers one by one."""
    return len(hp.hidden_layers) if hp.model == "rnn-dbn" else 1


def build_frame_pretraining_graph(hp, p):
    """The frame distribution of `p` alone (the RBM's W, bv, bh; the NADE's W, V, bv, bh; the
    Bernoulli units' bv; a DBN's RBMs, one stage each), trained over batches of rows with its own
    biases (weight_initializations.py). A stage moves only the variables its cost depends on."""
    x = tf.placeholder(tf.float32, [None, hp.n_visible], name="x")                 # [batch, n_visible]
    seed = tf.placeholder(tf.int64, [2], name="seed")
    costs = CONDITIONALS[hp.model].pretrain_costs(x, p, hp, seed)
    own = field_variables(p, FRAME_PARAMS[hp.model])
    train_ops = []
    for cost in costs:
        grads = [(g, var) for g, var in zip(tf.gradients(cost, own), own) if g is not None]
        train_ops.append(tf.train.GradientDescentOptimizer(hp.pretrain_lr).apply_gradients(grads))
    return FramePretraining(x=x, seed=seed, costs=costs, train_ops=train_ops)


def build_generation_graph(hp, fused=False, blocks=1, harmonize=False):
    """Sample n_songs songs side by side: an RBM row starts its Gibbs chain at the previous row; a
    NADE draws its units in order, lowest first, and independent Bernoulli units all at once.

    With `harmonize`, each row holds the units of clamp_mask at clamp_values (harmonize.py: a
    melody's note and the keys above it) and draws the others given them
    (Conditional.sample_given); the RNN then moves on with the whole row.

    A long song can be made in several runs by feeding u_end, v_end back as u_start, v_start.
    `fused` lets XLA fuse the sampling arithmetic: faster for hundreds of songs, slower for a few.
    `blocks` (fused only) cuts the songs into that many side-by-side Gibbs chains.
    """
    nv, nr, ns = hp.n_visible, recurrent_units(hp), state_size(hp)
    p = create_params(hp)
    view = recurrence_view(hp, p)
    primer = tf.placeholder_with_default(tf.zeros([0, nv]), [None, nv], name="primer")  # [primer_rows, nv]
    n_songs = tf.placeholder_with_default(1, [], name="n_songs")
    n_steps = tf.placeholder(tf.int32, [], name="n_steps")
    seed = tf.placeholder_with_default(tf.constant([0, 0], tf.int64), [2], name="seed")
    first_step = tf.placeholder_with_default(tf.constant(0, tf.int64), [], name="first_step")

    u_primed = tf.foldl(lambda u, v: rnn_step(u, v, view, hp.cell), primer,
                        initializer=initial_state(hp.cell, view))                        # [state]
    v_primed = tf.concat([tf.zeros([1, nv]), primer], axis=0)[-1]                       # [nv]: zeros if no primer
    u_start = tf.placeholder_with_default(tf.tile(u_primed[None, :], [n_songs, 1]), [None, ns], name="u_start")
    v_start = tf.placeholder_with_default(tf.tile(v_primed[None, :], [n_songs, 1]), [None, nv], name="v_start")
    clamp_mask = tf.placeholder(tf.float32, [None, None, nv], name="clamp_mask") if harmonize else None      # [n_steps, n_songs or 1, nv]
    clamp_values = tf.placeholder(tf.float32, [None, None, nv], name="clamp_values") if harmonize else None  # [n_steps, n_songs or 1, nv]

    def body(t, u_tm1, v_tm1, music):
        bv_t, bh_t = conditional_biases(output(hp.cell, u_tm1, nr), view)
        step_seed = RBM.offset_seed(seed, (first_step + tf.cast(t, tf.int64)) * RBM.SEED_STRIDE)
        clamp = None
        if harmonize:
            every_song = lambda a: a[t] + tf.zeros_like(v_tm1)                            # [n_songs, nv]
            clamp = Clamp(every_song(clamp_mask), every_song(clamp_values))
        v_t = best_of_sample(CONDITIONALS[hp.model], hp.best_of, v_tm1, p, bv_t, bh_t,
                             (hp.k_generate, hp.k_from_silence), step_seed,
                             fused, blocks, voice_misses(hp), clamp, hp.particles)
        return t + 1, rnn_step(u_tm1, v_t, view, hp.cell), v_t, music.write(t, v_t)

    music = tf.TensorArray(tf.float32, size=n_steps, element_shape=[None, nv])
    _, u_end, v_end, music = tf.while_loop(lambda t, *_: t < n_steps, body,
                                           [tf.constant(0), u_start, v_start, music], back_prop=False)
    return Generator(primer=primer, n_songs=n_songs, n_steps=n_steps, seed=seed, first_step=first_step,
                     u_start=u_start, v_start=v_start, music=tf.transpose(music.stack(), [1, 0, 2]), u_end=u_end,
                     v_end=v_end, params=p, clamp_mask=clamp_mask, clamp_values=clamp_values)


ConditionalBiases = collections.namedtuple("ConditionalBiases", [
    "x",            # placeholder [lanes, time, n_visible]: whole songs, one per lane, each from u0
    "bv_t",         # [lanes, time, n_visible]: visible biases of the RBM at each frame
    "bh_t",         # [lanes, time, n_hidden]: hidden biases of the RBM at each frame
    "params",
])


def build_conditional_biases_graph(hp):
    """The RBM biases of every frame of whole songs, given the true frames before it: the RNN alone,
    with no sampling and no training (evaluation)."""
    p = create_params(hp)
    x = tf.placeholder(tf.float32, [None, None, hp.n_visible], name="x")                  # [lanes, time, nv]
    lanes, steps = tf.shape(x)[0], tf.shape(x)[1]
    song_starts = tf.concat([tf.ones([lanes, 1]), tf.zeros([lanes, steps - 1])], axis=1)   # [lanes, time]
    view = recurrence_view(hp, p)
    u_tm1, _ = rnn_states(x, tf.zeros([lanes, state_size(hp)]), song_starts, view, hp.cell)
    bv_t, bh_t = conditional_biases(u_tm1, view)
    return ConditionalBiases(x=x, bv_t=bv_t, bh_t=bh_t, params=p)


ExactLikelihood = collections.namedtuple("ExactLikelihood", [
    "x",            # placeholder [lanes, time, n_visible]: whole songs, one per lane, each from u0
    "seed",         # placeholder [2] int64: seed of the samples
    "log_p",        # [lanes, time]: log p(v_t | v_<t) of every frame, exact
    "samples",      # [lanes, time, n_samples, n_visible]: exact draws of each frame given the true frames before it
    "params",
])


def build_exact_likelihood_graph(hp, n_samples):
    """For a model with an exact likelihood (exact(hp)): every frame's log p(v_t | v_<t) and
    `n_samples` draws from it, each given the true frames before it (evaluation)."""
    if not exact(hp):
        raise ValueError(f"a {hp.model} has no exact likelihood; estimate it with build_frame_likelihood_graph")
    nv = hp.n_visible
    song = build_conditional_biases_graph(hp)
    lanes, steps = tf.shape(song.x)[0], tf.shape(song.x)[1]
    conditional, p = CONDITIONALS[hp.model], song.params
    bv = tf.reshape(song.bv_t, [-1, nv])                                                 # [lanes * time, nv]
    bh = None if song.bh_t is None else tf.reshape(song.bh_t, [-1, hidden_width(hp)])         # [lanes * time, nh]
    log_p = tf.reshape(conditional.log_prob(tf.reshape(song.x, [-1, nv]), p, bv, bh), [lanes, steps])
    seed = tf.placeholder_with_default(tf.constant([0, 0], tf.int64), [2], name="seed")
    repeat = lambda b: None if b is None else tf.repeat(b, n_samples, axis=0)            # [lanes * time * n, ...]
    drawn = conditional.sample(None, p, repeat(bv), repeat(bh), hp.k_generate, seed, False, 1)
    return ExactLikelihood(x=song.x, seed=seed, log_p=log_p, samples=tf.reshape(drawn, [lanes, steps, n_samples, nv]),
                           params=p)


FrameLikelihood = collections.namedtuple("FrameLikelihood", [
    "bv",           # placeholder [frames, n_visible]: each frame's visible biases (bv_t)
    "bh",           # placeholder [frames, n_hidden]: each frame's hidden biases (bh_t)
    "v_prev",       # placeholder [frames, n_visible]: the true frame before each (silence first)
    "v_now",        # placeholder [frames, n_visible]: the frames themselves (for RAISE)
    "seed",         # placeholder [2] int64
    "ais",          # RBM.Ais of each frame's RBM
    "raise_log_p",  # (log p, standard error) of each frame by RAISE, or None
])


def build_frame_likelihood_graph(hp, W, chains, betas, base_chains, with_raise):
    """AIS (and, `with_raise`, RAISE) over each frame's RBM, with weights W and fed biases.

    The AIS base has each unit on with the frame's marginals, from `base_chains` Gibbs chains of
    k_generate steps started at the previous true frame, as generation does. `betas` is the
    number of temperatures after beta = 0. The seeds of base, AIS and RAISE do not overlap.
    """
    nv, nh = hp.n_visible, hp.n_hidden
    bv = tf.placeholder(tf.float32, [None, nv], name="bv")                       # [frames, n_visible]
    bh = tf.placeholder(tf.float32, [None, nh], name="bh")                       # [frames, n_hidden]
    v_prev = tf.placeholder(tf.float32, [None, nv], name="v_prev")               # [frames, n_visible]
    v_now = tf.placeholder(tf.float32, [None, nv], name="v_now")                 # [frames, n_visible]
    seed = tf.placeholder(tf.int64, [2], name="seed")
    marginals = RBM.gibbs_marginals(v_prev, W, bv, bh, hp.k_generate, base_chains, seed)  # seeds 0 .. 2 k
    base, temperatures = RBM.marginal_base(marginals), RBM.ais_betas(betas)
    ais_seed = RBM.offset_seed(seed, 2 * hp.k_generate + 1)
    ais = RBM.ais_log_z(W, bv, bh, base, temperatures, chains, ais_seed)
    raised = (RBM.raise_log_p(v_now, W, bv, bh, base, temperatures, chains,
                              RBM.offset_seed(ais_seed, 2 * len(temperatures))) if with_raise else None)
    return FrameLikelihood(bv=bv, bh=bh, v_prev=v_prev, v_now=v_now, seed=seed, ais=ais, raise_log_p=raised)


DbnFrameBound = collections.namedtuple("DbnFrameBound", [
    "bv", "bh", "v_prev", "v_now", "seed",   # placeholders as FrameLikelihood's; bh: [frames, hidden_width] (packed)
    "ais",          # RBM.Ais of each frame's top RBM (its log Z, and its chains' h_{L-1} with their weights)
    "bound",        # [frames]: the variational bound on log p(v_t | v_<t) + log Z_top (DBN.bound)
    "weighted",     # [frames]: the importance-weighted bound, likewise
    "predictions",  # [frames, chains, n_visible]: a down-pass from each AIS chain, weighted by ais.log_w
])


def build_dbn_bound_graph(hp, p, chains, betas, base_chains, bound_samples):
    """A lower bound on each frame's log p(v_t | v_<t) under a DBN of Params p, with fed biases:
    the variational bound over `bound_samples` draws of the up-pass, less the top RBM's log Z by
    AIS (`chains`, `betas`; its base from `base_chains` Gibbs chains of k_generate steps from the
    up-pass of the previous true frame, as generation starts). The seeds of base, AIS, bound and
    predictions do not overlap."""
    nv = hp.n_visible
    bv = tf.placeholder(tf.float32, [None, nv], name="bv")                       # [frames, n_visible]
    bh = tf.placeholder(tf.float32, [None, hidden_width(hp)], name="bh")         # [frames, hidden_width]
    v_prev = tf.placeholder(tf.float32, [None, nv], name="v_prev")               # [frames, n_visible]
    v_now = tf.placeholder(tf.float32, [None, nv], name="v_now")                 # [frames, n_visible]
    seed = tf.placeholder(tf.int64, [2], name="seed")
    weights, biases = _dbn(p, bv, bh)
    W_top, (b_top, c_top) = weights[-1], biases[-1]
    up = DBN.up_pass(v_prev, weights, biases, seed)[-1]                           # seeds 0 .. L - 2
    base_seed = RBM.offset_seed(seed, len(weights))
    marginals = RBM.gibbs_marginals(up, W_top, b_top, c_top, hp.k_generate, base_chains, base_seed)
    ais_seed = RBM.offset_seed(base_seed, 2 * hp.k_generate + 1)
    temperatures = RBM.ais_betas(betas)
    ais = RBM.ais_log_z(W_top, b_top, c_top, RBM.marginal_base(marginals), temperatures, chains, ais_seed)
    bound_seed = RBM.offset_seed(ais_seed, 2 * len(temperatures))
    variational, weighted = DBN.bound(v_now, weights, biases, bound_samples, bound_seed)
    repeat = lambda a: RBM.repeat_rows(a, chains)                                # chain m of frame r: r * chains + m
    tops = tf.reshape(ais.v, [-1, int(b_top.shape[-1])])                         # [frames * chains, n_{L-1}]
    drawn = DBN.down_pass(tops, weights, [(repeat(b), repeat(c)) for b, c in biases],
                          RBM.offset_seed(bound_seed, len(weights) + 2 * len(weights)), fused=False)
    return DbnFrameBound(bv=bv, bh=bh, v_prev=v_prev, v_now=v_now, seed=seed, ais=ais, bound=variational,
                         weighted=weighted, predictions=tf.reshape(drawn, [-1, chains, nv]))
