"""Log-likelihood and frame-level accuracy of a checkpoint on a benchmark split, as in
Boulanger-Lewandowski et al. (2012); rnn_rbm_evaluate.py explains the method and is its command line.
"""
import collections
import logging
import os

import numpy as np
from tqdm import tqdm

import checkpoints
import config
import datasets
import RBM
import rnn_rbm
from tf1 import tf

log = logging.getLogger(__name__)

# The evaluation's settings, as rnn_rbm_evaluate.py's options name them, and their defaults.
Settings = collections.namedtuple("Settings", [
    "chains",        # AIS chains per frame (with the baseline: predictions sampled per frame for ACC)
    "betas",         # AIS temperatures after beta = 0
    "base_chains",   # Gibbs chains per frame for the marginals of the AIS base
    "batch_frames",  # frames per AIS run, to bound memory
    "seed",          # seed of the random draws
    "max_songs",     # evaluate only the first this many songs (None: all)
    "raise_ll",      # also estimate the LL by reverse AIS (RAISE)
    "bound_samples", # a DBN's draws of the up-pass per frame for its lower bound
], defaults=[100, 500, 10, 250, 0, None, False, 100])


def dataset_name(path):
    return os.path.splitext(os.path.basename(path))[0]


def split_rolls(path, split, hp, data=None):
    """Float32 piano rolls of the non-empty songs of a split of the benchmark pickle at `path` (whose
    contents are `data`, when loaded already), in hp's (one-frame, play-only) layout; a pitch
    outside hp's keys is a ValueError."""
    return [roll.astype(np.float32) for roll in datasets.load_pickle_rolls(path, split, hp, True, data) if len(roll)]


Result = collections.namedtuple("Result", [
    "ll",           # mean log p(v_t | v_<t) over the frames, nats
    "ll_se",        # its standard error from AIS alone
    "ll_frame_se",  # the spread of the frames' LL, std / sqrt(frames)
    "acc",          # mean over the frames of the expected accuracy (the paper's ACC)
    "acc_se",       # its standard error from the sampled predictions
    "acc_pooled",   # sum E[TP] / sum E[TP + FP + FN] over the frames
    "frames",
    "raise_ll",     # the conservative mean LL by reverse AIS (--raise), or None
    "raise_se",     # its standard error from RAISE alone
    "acc_repeat",   # ACC of repeating the previous true frame, on the same frames
    "acc_variants", # {(prediction, average): ACC}, see accuracy_variants
    "exact",        # whether the LL is exact (no AIS)
    "lower_bound",  # whether the LL is a lower bound (a DBN's), not an estimate of it
    "weighted_ll",  # a DBN's importance-weighted bound, tighter than its variational `ll` (else None)
], defaults=(False, None))

# The ways public re-implementations compute ACC: the prediction is either the model's samples
# (the accuracy's expectation under the model) or one frame thresholded at marginal p = 0.5
# (MAP-like), or repeats the previous true frame; the average is either the mean of the frames'
# accuracies or pooled sums over all frames, sum TP / sum (TP + FP + FN) (Bay et al. 2009).
PREDICTIONS = {"expected": "expected over the samples", "threshold": "thresholded at p = 0.5",
               "repeat": "repeat the previous frame"}
AVERAGES = {"mean": "mean of frames", "pooled": "pooled (Bay et al.)"}


def previous_frames(rolls):
    """Each song's frames shifted one step later, silence first: the true frames before each frame."""
    return np.concatenate([np.vstack([np.zeros((1, r.shape[1]), r.dtype), r[:-1]]) for r in rolls])


def repeat_accuracy(rolls):
    """ACC of the trivial prediction that each frame repeats the one before it (silence before a
    song's first frame): the figure a model's ACC has to beat to have learnt when the music changes."""
    v = np.concatenate(rolls)
    return expected_accuracy(previous_frames(rolls)[:, None], np.zeros((len(v), 1)), v)[0].mean()


def expected_accuracy(samples, log_w, v):
    """Each frame's expected accuracy under the model, from weighted predictions of it.

    samples: [frames, n, n_visible] 0/1 predictions of the frames v ([frames, n_visible]), with
    log importance weights log_w ([frames, n]; all equal for plain samples). Bay et al.'s
    accuracy of one prediction is TP / (TP + FP + FN), 1 for a silent frame predicted silent.
    Returns per frame: (expected accuracy, the variance of that estimate (self-normalised
    importance sampling, delta method), expected TP, expected TP + FP + FN).
    """
    w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    v = v[:, None, :]
    tp = (samples * v).sum(-1)
    total = samples.sum(-1) + v.sum(-1) - tp                     # TP + FP + FN, as FP = predicted - TP, FN = true - TP
    acc = np.where(total > 0, tp / np.maximum(total, 1), 1.0)
    mean = (w * acc).sum(1)
    return mean, (w ** 2 * (acc - mean[:, None]) ** 2).sum(1), (w * tp).sum(1), (w * total).sum(1)


def weighted_marginals(samples, log_w):
    """p(v_i = 1) of each frame from its weighted samples ([frames, n, n_visible], [frames, n])."""
    w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    return (w[:, :, None] * samples).sum(1) / w.sum(1)[:, None]


def prediction_accuracy(prediction, v):
    """expected_accuracy's tuple for one 0/1 prediction of each frame ([frames, n_visible])."""
    return expected_accuracy(prediction[:, None, :], np.zeros((len(v), 1)), v)


def accuracy_variants(expected, threshold, rolls):
    """{(prediction, average): ACC} from the expected_accuracy tuples of every batch of frames for
    the model's samples (`expected`) and for its thresholded marginals (`threshold`), and from
    repeating the previous true frame of `rolls`."""
    repeat = [prediction_accuracy(previous_frames(rolls), np.concatenate(rolls))]
    grid = {}
    for name, per_batch in (("expected", expected), ("threshold", threshold), ("repeat", repeat)):
        mean, _, tp, total = (np.concatenate(a) for a in zip(*per_batch))
        grid[name, "mean"], grid[name, "pooled"] = float(mean.mean()), float(tp.sum() / total.sum())
    return grid


def summarise_accuracy(per_batch):
    """(ACC, its s.e., pooled ACC) from the expected_accuracy of every batch of frames."""
    mean, variance, tp, total = (np.concatenate(a) for a in zip(*per_batch))
    return mean.mean(), np.sqrt(variance.sum()) / len(mean), tp.sum() / total.sum()


def summarise(ll, acc, threshold, rolls, ll_errors=None, **fields):
    """The Result of every frame's LL `ll` and every batch's expected_accuracy `acc` and thresholded
    prediction_accuracy `threshold` on `rolls`. `ll_errors`, each frame's standard error from AIS,
    makes the LL an estimate; without it the LL is exact. `fields` sets Result's optional fields."""
    ll_mean, ll_se = (ll.mean(), 0.0) if ll_errors is None else mean_and_error(ll, ll_errors)
    acc_mean, acc_se, acc_pooled = summarise_accuracy(acc)
    return Result(ll=ll_mean, ll_se=ll_se, ll_frame_se=ll.std() / np.sqrt(len(ll)), acc=acc_mean, acc_se=acc_se,
                  acc_pooled=acc_pooled, frames=len(ll), acc_repeat=repeat_accuracy(rolls),
                  acc_variants=accuracy_variants(acc, threshold, rolls), exact=ll_errors is None,
                  **{"raise_ll": None, "raise_se": None, **fields})


def evaluate_baseline(path, split, args):
    """The independent-Bernoulli model of the train split: exact LL, ACC from args.chains samples per frame."""
    paper, data = config.preset("paper"), datasets.load_pickle_dataset(path)
    rolls = split_rolls(path, split, paper, data)
    train = np.concatenate(split_rolls(path, "train", paper, data))
    p = (train.sum(0) + 1.0) / (len(train) + 2.0)
    v = np.concatenate(rolls)
    ll = v @ np.log(p) + (1 - v) @ np.log1p(-p)
    rng = np.random.default_rng(args.seed)
    acc, threshold = [], []
    for begin in range(0, len(v), args.batch_frames):
        batch = v[begin:begin + args.batch_frames]
        samples = (rng.random((len(batch), args.chains, len(p))) < p).astype(np.float32)
        acc.append(expected_accuracy(samples, np.zeros(samples.shape[:2]), batch))
        threshold.append(prediction_accuracy(np.broadcast_to(p > 0.5, batch.shape).astype(np.float32), batch))
    return summarise(ll, acc, threshold, rolls)


def evaluate_checkpoint(path, dataset, split, args):
    """The Result of one checkpoint. `args` holds the evaluation's settings, as rnn_rbm_evaluate.py's
    options name them: chains, betas, base_chains, batch_frames, seed, max_songs, raise_ll."""
    hp, _ = checkpoints.load_hparams(path)
    if hp.steps_per_rbm != 1 or hp.articulation:
        raise ValueError(f"{path} models {hp.steps_per_rbm} steps of play{'+articulate' if hp.articulation else ''} "
                         "bits per RBM; LL per frame needs a one-frame, play-only model (weight_initializations.py "
                         "--preset paper)")
    rolls = split_rolls(dataset, split, hp)
    rolls = rolls[:args.max_songs]
    if rnn_rbm.exact(hp):
        return evaluate_exact(path, hp, rolls, args)
    if hp.model == "rnn-dbn":
        return evaluate_dbn(path, hp, rolls, args)
    graph = tf.Graph()
    with graph.as_default():
        song = rnn_rbm.build_conditional_biases_graph(hp)
        frame = rnn_rbm.build_frame_likelihood_graph(hp, song.params.W, args.chains, args.betas, args.base_chains,
                                                     args.raise_ll)
        with tf.Session(graph=graph) as sess:
            checkpoints.restore(sess, checkpoints.make_saver(song.params), path)
            W = sess.run(song.params.W)
            bv, bh = conditional_biases(sess, song, rolls)
            outs, acc, threshold = frame_batches(sess, frame, {"raise": frame.raise_log_p} if args.raise_ll else {},
                                                 bv, bh, rolls, args, path, lambda out: out["ais"].v)
    v = np.concatenate(rolls)
    free = -(v * bv).sum(1) - np.logaddexp(0, v.astype(np.float64) @ W + bh).sum(1)
    ll = -free - np.concatenate([out["ais"].log_z for out in outs])
    lz_se = np.concatenate([out["ais"].std_error for out in outs])
    raised = {}
    if args.raise_ll:
        log_p, errors = (np.concatenate(a) for a in zip(*(out["raise"] for out in outs)))
        raised["raise_ll"], raised["raise_se"] = mean_and_error(log_p, errors)
    return summarise(ll, acc, threshold, rolls, lz_se, **raised)


def conditional_biases(sess, song, rolls):
    """(bv_t, bh_t) of every frame of `rolls`, given the true frames before it, from the graph
    rnn_rbm.build_conditional_biases_graph `song`; each [frames, ...], songs one after the other."""
    bv, bh = [], []
    for roll in rolls:
        b_v, b_h = sess.run([song.bv_t, song.bh_t], {song.x: roll[None]})
        bv.append(b_v[0])
        bh.append(b_h[0])
    return np.concatenate(bv), np.concatenate(bh)


def frame_batches(sess, frame, fetch, bv, bh, rolls, args, path, draws):
    """Runs a frame graph's AIS (frame.ais) and `fetch` on every batch of args.batch_frames frames
    of `rolls`, whose conditional biases are `bv`, `bh`. Returns each batch's outputs, and its
    expected and thresholded ACC from the AIS-weighted frames `draws(outputs)`."""
    v, prev = np.concatenate(rolls), previous_frames(rolls)
    outs, acc, threshold = [], [], []
    for i, begin in enumerate(tqdm(range(0, len(v), args.batch_frames), desc=f"AIS {os.path.basename(path)}",
                                   unit="batch", disable=not log.isEnabledFor(logging.INFO))):
        batch = slice(begin, begin + args.batch_frames)
        out = sess.run({"ais": frame.ais, **fetch}, {frame.bv: bv[batch], frame.bh: bh[batch], frame.v_prev: prev[batch],
                                                     frame.v_now: v[batch], frame.seed: RBM.run_seed(args.seed, i)})
        frames, log_w = draws(out), out["ais"].log_w
        acc.append(expected_accuracy(frames, log_w, v[batch]))
        threshold.append(prediction_accuracy((weighted_marginals(frames, log_w) > 0.5).astype(np.float32), v[batch]))
        outs.append(out)
    return outs, acc, threshold


def evaluate_dbn(path, hp, rolls, args):
    """The Result of an RNN-DBN checkpoint: its LL is a lower bound (rnn_rbm.build_dbn_bound_graph),
    the variational bound less the top RBM's log Z by AIS; ACC from a down-pass of each AIS chain."""
    if args.raise_ll:
        raise ValueError(f"{path} is an RNN-DBN: RAISE estimates an RBM's log p, and a DBN's is bounded from its "
                         "top RBM's log Z instead; leave out --raise")
    graph = tf.Graph()
    with graph.as_default():
        song = rnn_rbm.build_conditional_biases_graph(hp)
        frame = rnn_rbm.build_dbn_bound_graph(hp, song.params, args.chains, args.betas, args.base_chains,
                                              args.bound_samples)
        with tf.Session(graph=graph) as sess:
            checkpoints.restore(sess, checkpoints.make_saver(song.params), path)
            bv, bh = conditional_biases(sess, song, rolls)
            outs, acc, threshold = frame_batches(
                sess, frame, {"bound": frame.bound, "weighted": frame.weighted, "predictions": frame.predictions},
                bv, bh, rolls, args, path, lambda out: out["predictions"])
    lz = np.concatenate([out["ais"].log_z for out in outs])
    ll = np.concatenate([out["bound"] for out in outs]) - lz
    weighted = np.concatenate([out["weighted"] for out in outs]) - lz
    return summarise(ll, acc, threshold, rolls, np.concatenate([out["ais"].std_error for out in outs]),
                     lower_bound=True, weighted_ll=float(weighted.mean()))


def evaluate_exact(path, hp, rolls, args):
    """The Result of a checkpoint whose model has an exact likelihood: LL exact (no AIS), ACC from
    args.chains exact draws of each frame given the true frames before it."""
    graph = tf.Graph()
    with graph.as_default():
        exact = rnn_rbm.build_exact_likelihood_graph(hp, args.chains)
        with tf.Session(graph=graph) as sess:
            checkpoints.restore(sess, checkpoints.make_saver(exact.params), path)
            ll, acc, threshold = [], [], []
            for i, roll in enumerate(tqdm(rolls, desc=f"exact LL {os.path.basename(path)}", unit="song",
                                          disable=not log.isEnabledFor(logging.INFO))):
                log_p, samples = sess.run([exact.log_p, exact.samples],
                                          {exact.x: roll[None], exact.seed: RBM.run_seed(args.seed, i)})
                ll.append(log_p[0])
                acc.append(expected_accuracy(samples[0], np.zeros(samples.shape[1:3]), roll))
                threshold.append(prediction_accuracy((samples[0].mean(1) > 0.5).astype(np.float32), roll))
    return summarise(np.concatenate(ll), acc, threshold, rolls)


def mean_and_error(values, errors):
    """The mean of per-frame estimates and its standard error, from each estimate's own."""
    return values.mean(), np.sqrt(np.sum(errors ** 2)) / len(values)
