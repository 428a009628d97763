"""Log-likelihood and frame-level accuracy on a benchmark split, as in Boulanger-Lewandowski et al. (2012).

    python rnn_rbm_evaluate.py <checkpoint or run folder> --dataset "../shared/data/benchmarks/JSB Chorales.pickle" [--split test]
    python rnn_rbm_evaluate.py --baseline --dataset "../shared/data/benchmarks/JSB Chorales.pickle"

LL is the mean over every frame of the split of log p(v_t | v_<t), in nats. The first frame
of each song counts too, conditioned on the trained initial state u0. Each frame's RBM
partition function is estimated by annealed importance sampling: --chains chains, --betas
temperatures (spaced as Salakhutdinov & Murray 2008: dense near the frame's RBM), from a
base-rate RBM whose units are on with the frame's marginals (those used for ACC below). The
± figure is the standard error of the mean LL that comes from AIS alone; AIS underestimates
log Z when it has too few temperatures, so raise --betas until the LL stops falling.

ACC is the expected frame-level accuracy of Bay et al. (2009), sum TP / (TP + FP + FN) over
every frame, where each frame is predicted from the frames before it: the model's marginals
p(v_t,i = 1 | v_<t) are averaged over --acc-chains Gibbs chains of k_generate steps started at
the previous true frame (as generation does), and give the expected counts TP = sum p v,
FP = sum p (1 - v), FN = sum (1 - p) v.

--baseline evaluates the independent-Bernoulli model instead: one probability per key, the
key's frequency in the train split (add-one smoothed).

Given a folder, every checkpoint in it is evaluated and the best LL is reported (model
selection: use it on the valid split). The last line printed is
`<dataset> <split>: LL/frame -X.XXX ± s.e. nats  ACC YY.YY%`.
"""
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
    parser.add_argument("--chains", type=int, default=100, help="AIS chains per frame (default: %(default)s)")
    parser.add_argument("--betas", type=int, default=500, help="AIS temperatures after beta = 0 (default: %(default)s)")
    parser.add_argument("--acc-chains", type=int, default=10, help="Gibbs chains per frame for ACC (default: %(default)s)")
    parser.add_argument("--batch-frames", type=int, default=250, help="frames per AIS run, to bound memory (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the AIS and ACC draws (default: %(default)s)")
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


def accuracy(p, v):
    """Expected frame-level accuracy sum TP / (TP + FP + FN) of marginals p against frames v."""
    tp = float((p * v).sum())
    fp = float((p * (1 - v)).sum())
    fn = float(((1 - p) * v).sum())
    return tp / (tp + fp + fn)


def evaluate_baseline(path, split):
    lowest, highest = config.PRESETS["paper"]["lowest_note"], config.PRESETS["paper"]["highest_note"]
    data = datasets.load_pickle_dataset(path)
    rolls = split_rolls(data, path, split, lowest, highest)
    train = np.concatenate(split_rolls(data, path, "train", lowest, highest))
    p = (train.sum(0) + 1.0) / (len(train) + 2.0)
    v = np.concatenate(rolls)
    ll = v @ np.log(p) + (1 - v) @ np.log1p(-p)
    return ll.mean(), 0.0, ll.std() / np.sqrt(len(ll)), accuracy(np.broadcast_to(p, v.shape), v), len(v)


def evaluate_checkpoint(path, dataset, split, args):
    """(mean LL, its AIS s.e., its s.e. over frames, ACC, frames) of one checkpoint."""
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
        seed = tf.placeholder(tf.int64, [2])
        marginals = RBM.gibbs_marginals(v_prev, p.W, bv_in, bh_in, hp.k_generate, args.acc_chains, seed)
        log_z, log_z_se = RBM.ais_log_z(p.W, bv_in, bh_in, RBM.marginal_base(marginals), RBM.ais_betas(args.betas),
                                        args.chains, RBM.offset_seed(seed, 2 * hp.k_generate + 1))

        with tf.Session(graph=graph) as sess:
            checkpoints.restore(sess, checkpoints.make_saver(p), path)
            params = sess.run(p)
            bv, bh = [], []
            for roll in rolls:
                b_v, b_h = sess.run([model.bv_t, model.bh_t], {model.x: roll[None]})
                bv.append(b_v[0])
                bh.append(b_h[0])
            v, bv, bh = np.concatenate(rolls), np.concatenate(bv), np.concatenate(bh)
            prev = np.concatenate([np.vstack([np.zeros((1, hp.n_visible), np.float32), r[:-1]]) for r in rolls])
            free = -(v * bv).sum(1) - np.logaddexp(0, v.astype(np.float64) @ params.W + bh).sum(1)
            lz, lz_se, marg = [], [], []
            for i, begin in enumerate(tqdm(range(0, len(v), args.batch_frames), desc=f"AIS {os.path.basename(path)}",
                                           unit="batch", disable=not log.isEnabledFor(logging.INFO))):
                batch = slice(begin, begin + args.batch_frames)
                a, b, m = sess.run([log_z, log_z_se, marginals],
                                   {bv_in: bv[batch], bh_in: bh[batch], v_prev: prev[batch],
                                    seed: RBM.run_seed(args.seed, i)})
                lz.append(a)
                lz_se.append(b)
                marg.append(m)
    ll = -free - np.concatenate(lz)
    ais_se = np.sqrt(np.sum(np.concatenate(lz_se) ** 2)) / len(ll)
    return ll.mean(), ais_se, ll.std() / np.sqrt(len(ll)), accuracy(np.concatenate(marg), v), len(ll)


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    for name in ("chains", "betas", "acc_chains", "batch_frames"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    if args.betas > 30000:
        raise ValueError("--betas must be at most 30000 (each batch's random draws are 65536 seeds apart)")
    name, start = dataset_name(args.dataset), time.time()
    if args.baseline:
        ll, se, frame_se, acc, frames = evaluate_baseline(args.dataset, args.split)
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
            results.append((result[0], path, result))
            if len(candidates) > 1:
                log.info("%s: LL/frame %.3f  ACC %.2f%%", path, result[0], 100 * result[3])
        _, label, (ll, se, frame_se, acc, frames) = max(results)
        if len(candidates) > 1:
            log.info("best on %s: %s", args.split, label)
    method = "exact" if args.baseline else f"AIS with {args.chains} chains and {args.betas} temperatures"
    log.info("%s, %d frames of %s [%s], %.0f s; s.e. over frames %.3f; %s",
             label, frames, name, args.split, time.time() - start, frame_se, method)
    if ll > 0:
        log.warning("a log-likelihood above 0 is impossible for binary frames: AIS has not converged and "
                    "underestimates log Z. Raise --chains and --betas; only ACC is meaningful here.")
    print(f"{name} {args.split}: LL/frame {ll:.3f} ± {se:.3f} nats  ACC {100 * acc:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
