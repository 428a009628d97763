"""Why an RNN-RBM's generated songs can collapse into silence: Gibbs chains from different starts,
on the biases the RNN gives real songs (docs/music.md).

    python gibbs_study.py parameter_checkpoints/benchmarks/nottingham_paper.ckpt "$B/Nottingham.pickle"

A frame here is an RBM row (steps_per_rbm steps of the piano roll). Two tables:
- every frame of the first --songs test songs, its RBM's biases from the true frames before it:
  chains of k steps from the previous true frame, from silence, and from a draw of each unit
  with probability sigmoid(bv_t) (and the union of the first and the last, the generator's start);
- the first frame of a song (the RNN at u0): --chains chains from silence, from that draw and
  from the data's first frames, for k up to 10,000.

Each line gives the chains' mean notes, the fraction with at most one note (or none), and
their mean -F (log p up to log Z: higher is likelier).
"""
import numpy as np

import checkpoints
import cli
import datasets
import midi_manipulation
import rnn_rbm
import RBM
from tf1 import tf


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("checkpoint", help="an RNN-RBM checkpoint")
    parser.add_argument("dataset", help="the benchmark pickle it was trained on")
    parser.add_argument("--split", default="test", help="the songs whose frames are sampled (default: %(default)s)")
    parser.add_argument("--songs", type=int, default=8, help="songs of the split (default: %(default)s)")
    parser.add_argument("--chains", type=int, default=400, help="chains for the first frame (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=5, help="seed of the chains (default: %(default)s)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    hp, _ = checkpoints.load_hparams(args.checkpoint)
    if hp.model != "rnn-rbm":
        raise ValueError(f"{args.checkpoint} is an {hp.model}; this study is of RBM Gibbs chains")
    rows = lambda rolls: [midi_manipulation.piano_roll_to_rows(r, hp.steps_per_rbm).astype(np.float32) for r in rolls]
    rolls = [r for r in rows(datasets.load_pickle_rolls(args.dataset, args.split, hp)[:args.songs]) if len(r)]
    first_frames = np.array([r[0] for r in rows(datasets.load_pickle_rolls(args.dataset, "train", hp)) if len(r)])
    rng = np.random.default_rng(args.seed)
    graph = tf.Graph()
    with graph.as_default():
        song = rnn_rbm.build_conditional_biases_graph(hp)
        saver = checkpoints.make_saver(song.params)
        bv = tf.placeholder(tf.float32, [None, hp.n_visible])          # [rows, n_visible]
        bh = tf.placeholder(tf.float32, [None, hp.n_hidden])           # [rows, n_hidden]
        start = tf.placeholder(tf.float32, [None, hp.n_visible])       # [rows, n_visible]
        k = tf.placeholder(tf.int32, [])
        chain = RBM.gibbs_sample(start, song.params.W, bv, bh, k, tf.constant([args.seed, 0], tf.int64), fused=False)
        with tf.Session(graph=graph) as sess:
            checkpoints.restore(sess, saver, args.checkpoint)
            W = sess.run(song.params.W)

            def report(label, a, b, s, steps):
                x = sess.run(chain, {bv: a, bh: b, start: s, k: steps})
                notes = x.sum(1)
                neg_f = (x * a).sum(1) + np.logaddexp(0, x @ W + b).sum(1)
                print(f"{label:34} k {steps:6}: notes {notes.mean():5.2f}, <= 1 note {(notes <= 1).mean():6.3f}, "
                      f"silent {(notes == 0).mean():6.3f}, -F {neg_f.mean():7.1f}")

            a, b = (np.vstack(t) for t in zip(*(
                [x[0] for x in sess.run([song.bv_t, song.bh_t], {song.x: r[None]})] for r in rolls)))
            v = np.vstack(rolls)
            previous = np.vstack([np.vstack([np.zeros((1, hp.n_visible), np.float32), r[:-1]]) for r in rolls])
            drawn = (rng.random(a.shape) < 1 / (1 + np.exp(-a))).astype(np.float32)
            notes = v.sum(1)
            print(f"{len(v)} frames of {len(rolls)} {args.split} songs, each given the true frames before it; the frames "
                  f"themselves: notes {notes.mean():.2f}, <= 1 note {(notes <= 1).mean():.3f}, silent "
                  f"{(notes == 0).mean():.3f}")
            for label, s in [("from the previous frame", previous), ("from silence", np.zeros_like(v)),
                             ("from a draw of sigmoid(bv_t)", drawn),
                             ("from their union", np.maximum(previous, drawn))]:
                for steps in (25, 200):
                    report(label, a, b, s, steps)

            a0, b0 = sess.run([song.bv_t, song.bh_t], {song.x: np.zeros((1, 1, hp.n_visible), np.float32)})
            a0, b0 = np.repeat(a0[0], args.chains, 0), np.repeat(b0[0], args.chains, 0)
            firsts = first_frames[rng.integers(0, len(first_frames), args.chains)]
            print(f"\nthe first frame (the RNN at u0), {args.chains} chains; the train split's first frames: notes "
                  f"{first_frames.sum(1).mean():.2f}, <= 1 note {(first_frames.sum(1) <= 1).mean():.3f}")
            drawn0 = (rng.random(a0.shape) < 1 / (1 + np.exp(-a0))).astype(np.float32)
            for label, s in [("from silence", np.zeros_like(a0)), ("from a draw of sigmoid(bv_t)", drawn0),
                             ("from the data's first frames", firsts)]:
                for steps in (25, 1000, 10000):
                    report(label, a0, b0, s, steps)


if __name__ == "__main__":
    cli.run(main)
