"""Log-likelihood and frame-level accuracy on a benchmark split, as in Boulanger-Lewandowski et al. (2012).

    python rnn_rbm_evaluate.py <checkpoint or run folder> --dataset "../shared/data/benchmarks/JSB Chorales.pickle" [--split test]
    python rnn_rbm_evaluate.py --baseline --dataset "../shared/data/benchmarks/JSB Chorales.pickle"

LL is the mean over every frame of the split of log p(v_t | v_<t), in nats. The first frame
of each song counts too, conditioned on the trained initial state u0. Each frame's RBM
partition function is estimated by annealed importance sampling: --chains chains, --betas
temperatures (spaced as Salakhutdinov & Murray 2008: dense near the frame's RBM), from a
base-rate RBM whose units are on with the frame's marginals, estimated by --base-chains
Gibbs chains of k_generate steps started at the previous true frame (as generation does). The
± figure is the standard error of the mean LL that comes from AIS alone; AIS underestimates
log Z when it has too few temperatures, so raise --betas until the LL stops falling.
--raise adds the reverse estimate (RAISE, Burda, Grosse & Salakhutdinov 2015): chains start at
the true frame and anneal back to the base. It errs low where AIS errs high, so the two
bracket the LL; the gap shows how far from converged both are.

ACC is the expected frame-level accuracy, computed as the paper's authors prescribe: each frame
is predicted from the true frames before it, the accuracy TP / (TP + FP + FN) of Bay et al.
(2009) of a predicted frame is averaged over the model's distribution p(v_t | v_<t), and that
expectation is averaged over every frame (a silent frame predicted silent scores 1). The
predictions are AIS's own samples: each chain's last state, weighted by its importance weight,
so no single Gibbs chain has to move between the distribution's modes. ACC's ± (logged) is
the standard error that these samples leave. The pooled form sum E[TP] / sum E[TP + FP + FN]
over all frames is logged too, and so is the ACC of repeating the previous true frame, a
trivial prediction that scores well where the music often holds.

--baseline evaluates the independent-Bernoulli model instead: one probability per key, the
key's frequency in the train split (add-one smoothed).

Given a folder, every checkpoint in it is evaluated and the best LL is reported (model
selection: use it on the valid split). The last line printed is
`<dataset> <split>: LL/frame -X.XXX ± s.e. nats  ACC YY.YY%`.
"""
import collections
import logging
import os
import sys
import time

import numpy as np
from tqdm import tqdm

import checkpoints
import cli
import config
import datasets

log = logging.getLogger(__name__)


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("checkpoint", nargs="?", default=None,
                        help="a checkpoint, 'latest', or a folder of checkpoints to choose from (not with --baseline)")
    parser.add_argument("--dataset", required=True, help="a benchmark .pickle (the 2012 paper's layout)")
    parser.add_argument("--split", default="test", help="split to evaluate (default: %(default)s)")
    parser.add_argument("--baseline", action="store_true", help="evaluate the independent-Bernoulli baseline instead")
    parser.add_argument("--chains", type=int, default=100,
                        help="AIS chains per frame; with --baseline, predictions sampled per frame for ACC "
                             "(default: %(default)s)")
    parser.add_argument("--betas", type=int, default=500, help="AIS temperatures after beta = 0 (default: %(default)s)")
    parser.add_argument("--raise", dest="raise_ll", action="store_true",
                        help="also estimate the LL by reverse AIS (RAISE) with the same chains and temperatures: "
                             "a conservative figure that brackets the LL from below (doubles the run time)")
    parser.add_argument("--base-chains", type=int, default=10,
                        help="Gibbs chains per frame for the marginals of the AIS base (default: %(default)s)")
    parser.add_argument("--batch-frames", type=int, default=250, help="frames per AIS run, to bound memory (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random draws (default: %(default)s)")
    parser.add_argument("--max-songs", type=int, default=None, help="evaluate only the first this many songs (default: all)")
    return parser


def dataset_name(path):
    return os.path.splitext(os.path.basename(path))[0]


def split_rolls(data, path, split, lowest_note, highest_note):
    """Play-only piano rolls of a split of `data` (loaded from `path`), checking that every pitch is
    inside the model's range."""
    if split not in data:
        raise ValueError(f"{path} has no split {split!r}; it has {', '.join(map(repr, data))}")
    pitches = [p for song in data[split] for frame in song for p in frame]
    if pitches and not lowest_note <= min(pitches) <= max(pitches) <= highest_note:
        raise ValueError(f"{path} [{split}] has pitches {min(pitches)}..{max(pitches)}, outside the model's "
                         f"{lowest_note}..{highest_note}, so its likelihood is undefined; train with --preset paper")
    return [datasets.pitch_frames_to_piano_roll(song, lowest_note, highest_note, False).astype(np.float32)
            for song in data[split] if len(song)]


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
])


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


def summarise_accuracy(per_batch):
    """(ACC, its s.e., pooled ACC) from the expected_accuracy of every batch of frames."""
    mean, variance, tp, total = (np.concatenate(a) for a in zip(*per_batch))
    return mean.mean(), np.sqrt(variance.sum()) / len(mean), tp.sum() / total.sum()


def evaluate_baseline(path, split, args):
    """The independent-Bernoulli model of the train split: exact LL, ACC from args.chains samples per frame."""
    lowest, highest = config.PRESETS["paper"]["lowest_note"], config.PRESETS["paper"]["highest_note"]
    data = datasets.load_pickle_dataset(path)
    rolls = split_rolls(data, path, split, lowest, highest)
    train = np.concatenate(split_rolls(data, path, "train", lowest, highest))
    p = (train.sum(0) + 1.0) / (len(train) + 2.0)
    v = np.concatenate(rolls)
    ll = v @ np.log(p) + (1 - v) @ np.log1p(-p)
    rng = np.random.default_rng(args.seed)
    acc = []
    for begin in range(0, len(v), args.batch_frames):
        batch = v[begin:begin + args.batch_frames]
        samples = (rng.random((len(batch), args.chains, len(p))) < p).astype(np.float32)
        acc.append(expected_accuracy(samples, np.zeros(samples.shape[:2]), batch))
    return Result(ll.mean(), 0.0, ll.std() / np.sqrt(len(ll)), *summarise_accuracy(acc), len(v), None, None,
                  repeat_accuracy(rolls))


def evaluate_checkpoint(path, dataset, split, args):
    """The Result of one checkpoint."""
    hp, _ = config.load_hparams(path)
    if hp.steps_per_rbm != 1 or hp.articulation:
        raise ValueError(f"{path} models {hp.steps_per_rbm} steps of play{'+articulate' if hp.articulation else ''} "
                         "bits per RBM; LL per frame needs a one-frame, play-only model (weight_initializations.py "
                         "--preset paper)")
    rolls = split_rolls(datasets.load_pickle_dataset(dataset), dataset, split, hp.lowest_note, hp.highest_note)
    rolls = rolls[:args.max_songs]
    tf = cli.import_tf()
    import RBM
    import rnn_rbm

    graph = tf.Graph()
    with graph.as_default():
        model = rnn_rbm.build_training_graph(hp)
        p = model.params
        bv_in = tf.placeholder(tf.float32, [None, hp.n_visible])                        # [frames, n_visible]
        bh_in = tf.placeholder(tf.float32, [None, hp.n_hidden])                         # [frames, n_hidden]
        v_prev = tf.placeholder(tf.float32, [None, hp.n_visible])                       # [frames, n_visible]
        v_now = tf.placeholder(tf.float32, [None, hp.n_visible])                        # [frames, n_visible]
        seed = tf.placeholder(tf.int64, [2])
        marginals = RBM.gibbs_marginals(v_prev, p.W, bv_in, bh_in, hp.k_generate, args.base_chains, seed)
        base, betas = RBM.marginal_base(marginals), RBM.ais_betas(args.betas)
        ais_first_seed = 2 * hp.k_generate + 1
        fetch = {"ais": RBM.ais_log_z(p.W, bv_in, bh_in, base, betas, args.chains, RBM.offset_seed(seed, ais_first_seed))}
        if args.raise_ll:
            fetch["raise"] = RBM.raise_log_p(v_now, p.W, bv_in, bh_in, base, betas, args.chains,
                                             RBM.offset_seed(seed, ais_first_seed + 2 * len(betas)))

        with tf.Session(graph=graph) as sess:
            checkpoints.restore(sess, checkpoints.make_saver(p), path)
            params = sess.run(p)
            bv, bh = [], []
            for roll in rolls:
                b_v, b_h = sess.run([model.bv_t, model.bh_t], {model.x: roll[None]})
                bv.append(b_v[0])
                bh.append(b_h[0])
            v, bv, bh = np.concatenate(rolls), np.concatenate(bv), np.concatenate(bh)
            prev = previous_frames(rolls)
            free = -(v * bv).sum(1) - np.logaddexp(0, v.astype(np.float64) @ params.W + bh).sum(1)
            lz, lz_se, acc, raised = [], [], [], []
            for i, begin in enumerate(tqdm(range(0, len(v), args.batch_frames), desc=f"AIS {os.path.basename(path)}",
                                           unit="batch", disable=not log.isEnabledFor(logging.INFO))):
                batch = slice(begin, begin + args.batch_frames)
                out = sess.run(fetch, {bv_in: bv[batch], bh_in: bh[batch], v_prev: prev[batch], v_now: v[batch],
                                       seed: RBM.run_seed(args.seed, i)})
                a = out["ais"]
                raised.append(out.get("raise"))
                lz.append(a.log_z)
                lz_se.append(a.std_error)
                acc.append(expected_accuracy(a.v, a.log_w, v[batch]))
    ll = -free - np.concatenate(lz)
    raise_ll, raise_se = mean_and_error(*(np.concatenate(a) for a in zip(*raised))) if args.raise_ll else (None, None)
    return Result(*mean_and_error(ll, np.concatenate(lz_se)), ll.std() / np.sqrt(len(ll)), *summarise_accuracy(acc),
                  len(ll), raise_ll, raise_se, repeat_accuracy(rolls))


def mean_and_error(values, errors):
    """The mean of per-frame estimates and its standard error, from each estimate's own."""
    return values.mean(), np.sqrt(np.sum(errors ** 2)) / len(values)


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    for name in ("chains", "betas", "base_chains", "batch_frames"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    most = 16000 if args.raise_ll else 30000
    if args.betas > most:
        raise ValueError(f"--betas must be at most {most}{' with --raise' if args.raise_ll else ''} "
                         "(each batch's random draws are 65536 seeds apart)")
    name, start = dataset_name(args.dataset), time.time()
    if args.baseline:
        result = evaluate_baseline(args.dataset, args.split, args)
        label = "independent Bernoulli"
    else:
        if not args.checkpoint:
            raise ValueError("pass a checkpoint (or a folder of checkpoints), or --baseline")
        if os.path.isdir(args.checkpoint):
            candidates = checkpoints.all_checkpoints(args.checkpoint)
            if not candidates:
                raise ValueError(f"no checkpoint in {args.checkpoint}/")
        else:
            candidates = [checkpoints.resolve(args.checkpoint)]
            checkpoints.check_exists(candidates[0], "pass a checkpoint written by rnn_rbm_train.py")
        results = []
        for path in candidates:
            result = evaluate_checkpoint(path, args.dataset, args.split, args)
            results.append((result.ll, path, result))
            if len(candidates) > 1:
                log.info("%s: LL/frame %.3f  ACC %.2f%%", path, result.ll, 100 * result.acc)
        _, label, result = max(results)
        if len(candidates) > 1:
            log.info("best on %s: %s", args.split, label)
    method = (f"exact LL, ACC from {args.chains} samples per frame" if args.baseline
              else f"AIS with {args.chains} chains and {args.betas} temperatures")
    log.info("%s, %d frames of %s [%s], %.0f s; %s; LL s.e. over frames %.3f; ACC s.e. %.2f%%, pooled ACC %.2f%%; "
             "repeating the previous frame scores ACC %.2f%%", label, result.frames, name, args.split,
             time.time() - start, method, result.ll_frame_se, 100 * result.acc_se, 100 * result.acc_pooled,
             100 * result.acc_repeat)
    if result.raise_ll is not None:
        log.info("conservative LL/frame by reverse AIS (RAISE): %.3f ± %.3f nats; the model's LL lies between it "
                 "and the AIS figure below, when both have enough temperatures", result.raise_ll, result.raise_se)
    if result.ll > 0:
        log.warning("a log-likelihood above 0 is impossible for binary frames: AIS has not converged and "
                    "underestimates log Z. Raise --chains and --betas; only ACC is meaningful here.")
    print(f"{name} {args.split}: LL/frame {result.ll:.3f} ± {result.ll_se:.3f} nats  ACC {100 * result.acc:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
