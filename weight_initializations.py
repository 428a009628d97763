"""Pretrain the RBM (W, bv, bh) with CD-k on every RBM row of the training songs.

Writes parameter_checkpoints/initialized.ckpt, the starting point of rnn_rbm_train.py. The
RNN weights are drawn small (init_std_rnn) and u0, bu start at zero. With
--rnn-pretrain-epochs N the RNN is then trained alone for N epochs to predict each row with
independent Bernoulli units (the paper's RNN initialisation), which sets Wuv, Wvu, Wuu, bu, u0.

    python weight_initializations.py [--data Pop_Music_Midi] [--epochs 100]
"""
import logging
import os
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
    parser.add_argument("--data", default=datasets.DEFAULT_DATA,
                        help="folder of .mid/.midi files (searched recursively) or a benchmark .pickle "
                             "(default: %(default)s)")
    parser.add_argument("--split", default="train", help="split of a .pickle dataset to train on (default: %(default)s)")
    parser.add_argument("--checkpoint-dir", default=checkpoints.DEFAULT_DIR,
                        help="where initialized.ckpt goes (default: %(default)s)")
    parser.add_argument("--cache-dir", default=datasets.DEFAULT_CACHE,
                        help="cache of parsed songs, '' for none (default: %(default)s)")
    parser.add_argument("--epochs", "--pretrain-epochs", dest="pretrain_epochs", type=int, default=None,
                        help="pretraining epochs (default: pretrain_epochs in config.py, 100)")
    parser.add_argument("--preset", default="original", choices=sorted(config.PRESETS),
                        help="starting hyper-parameters: 'original' (Shiebler's) or 'paper' (the 2012 paper's "
                             "88-key, one-frame, 150-hidden model); options below override them (default: %(default)s)")
    config.add_hparam_arguments(parser, skip={"pretrain_epochs", "epochs"})
    return parser


def visible_log_odds(rows, min_prob):
    """log(p / (1 - p)) of each visible unit's frequency p in `rows`, p clipped to [min_prob, 1 - min_prob].

    Without it a unit that is never on in the data starts at bv = 0 and is sampled on half
    the time; CD then takes many epochs to push it down, and generation stays noisy.
    """
    p = np.clip(rows.mean(axis=0), min_prob, 1.0 - min_prob)
    return np.log(p / (1.0 - p)).astype(np.float32)


def pretrain_rnn(sess, rnn, song_rows, hp, quiet):
    """hp.rnn_pretrain_epochs epochs of the RNN pretraining graph `rnn`; returns the last epoch's
    mean -log p per row (nats)."""
    import rnn_rbm_train
    nll = float("nan")
    bar = tqdm(range(1, hp.rnn_pretrain_epochs + 1), desc="pretraining RNN", unit="epoch", disable=quiet)
    for epoch in bar:
        nll = rnn_rbm_train.train_epoch(sess, rnn, song_rows, hp, epoch)
        bar.set_postfix(nll=f"{nll:.4f}")
    log.info("RNN pretraining: %.4f nats per row on the training rows after %d epochs", nll, hp.rnn_pretrain_epochs)
    return nll


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    hp = config.hparams_from_args(args, base=config.preset(args.preset))
    songs = datasets.load_data(args.data, hp, args.split, args.cache_dir)
    song_rows = datasets.songs_to_rows(songs, hp)
    rows = np.concatenate(song_rows)
    log.info("pretraining a %d x %d RBM with CD-%d on %d rows for %d epochs",
             hp.n_visible, hp.n_hidden, hp.pretrain_k, len(rows), hp.pretrain_epochs)

    tf = cli.import_tf()
    import RBM
    import rnn_rbm

    start = time.time()
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(hp.seed)
        params = rnn_rbm.create_params(hp)
        x = tf.placeholder(tf.float32, [None, hp.n_visible], name="x")                 # [batch, n_visible]
        seed = tf.placeholder(tf.int64, [2], name="seed")
        cost = RBM.cd_loss(x, params.W, params.bv, params.bh, hp.pretrain_k, seed)
        train_op = tf.train.GradientDescentOptimizer(hp.pretrain_lr).minimize(
            cost, var_list=[params.W, params.bv, params.bh])
        rnn = rnn_rbm.build_rnn_pretraining_graph(hp, params) if hp.rnn_pretrain_epochs else None
        saver = checkpoints.make_saver(params)
        mean_cost = float("nan")
        with tf.Session(graph=graph) as sess:
            sess.run(tf.global_variables_initializer())
            log_odds = visible_log_odds(rows, hp.bv_min_prob)
            if hp.bv_from_data:
                sess.run(params.bv.assign(log_odds))
            bar = tqdm(range(1, hp.pretrain_epochs + 1), desc="pretraining RBM", unit="epoch",
                       disable=args.quiet)
            for epoch in bar:
                order = np.random.default_rng([hp.seed, epoch]).permutation(len(rows))
                total = 0.0
                for i, begin in enumerate(range(0, len(rows), hp.pretrain_batch)):
                    batch = rows[order[begin:begin + hp.pretrain_batch]]
                    c, _ = sess.run([cost, train_op], {x: batch, seed: RBM.run_seed(hp.seed, (epoch << 24) + i)})
                    total += float(c) * len(batch)
                mean_cost = total / len(rows)
                bar.set_postfix(cost=f"{mean_cost:.4f}")
            extra = {}
            if rnn:
                sess.run(rnn.bo.assign(log_odds))
                extra["rnn_pretrain_nll"] = pretrain_rnn(sess, rnn, song_rows, hp, args.quiet)
            path = checkpoints.save(sess, saver, os.path.join(args.checkpoint_dir, "initialized.ckpt"), hp,
                                    data=args.data, pretrain_cost=mean_cost, **extra)
    log.info("wrote %s in %.1f s (final CD-%d cost %.4f); next: python rnn_rbm_train.py <epochs>",
             path, time.time() - start, hp.pretrain_k, mean_cost)
    return path


if __name__ == "__main__":
    cli.run(main)
