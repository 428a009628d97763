"""Pretrain the RBM (W, bv, bh) with CD-k on every RBM row of the training songs.

Writes parameter_checkpoints/initialized.ckpt, the starting point of rnn_rbm_train.py. The
RNN weights are drawn small (init_std_rnn) and u0, bu start at zero. With --model rnn-nade
the NADE (W, V, bv, bh) is pretrained instead, by SGD on its exact -log p; with --model rnn
only bv, the independent units' log-odds, is. With
--rnn-pretrain-epochs N the RNN is then trained alone for N epochs to predict each row with
independent Bernoulli units (the paper's RNN initialisation), which sets Wuv, Wvu, Wuu, bu, u0.

    python weight_initializations.py [--data Pop_Music_Midi] [--pretrain-epochs 100]

With --model rnn-dbn the DBN is pretrained layer by layer; --stack CHECKPOINT instead starts it
from a trained RNN-RBM (DBN.stack), whose bound it then starts at.

Ctrl-C saves what is done to parameter_checkpoints/pretraining_interrupted.ckpt and exits
cleanly; --resume continues from there.
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
import DBN
import RBM
import rnn_rbm
import training
from tf1 import tf

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
    parser.add_argument("--preset", default="original", choices=sorted(config.PRESETS),
                        help="starting hyper-parameters: 'original' (Shiebler's) or 'paper' (the 2012 paper's "
                             "88-key, one-frame, 150-hidden model); options below override them (default: %(default)s)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="wall-clock budget of each pretraining stage: a stage stops after the epoch that reaches "
                             "it, and the checkpoint records the epochs done (default: none)")
    parser.add_argument("--resume", action="store_true",
                        help=f"continue the pretraining that Ctrl-C saved to <checkpoint-dir>/{training.PRETRAINING_INTERRUPTED}")
    parser.add_argument("--stack", metavar="CHECKPOINT",
                        help="start a DBN (--model rnn-dbn) from a trained RNN-RBM checkpoint instead of pretraining: "
                             "its RBM and RNN become the DBN's first layer and recurrence, each layer above starts as "
                             "the transpose of the one below, and the DBN's lower bound starts at the RNN-RBM's "
                             "log-likelihood (Hinton et al. 2006). Hyper-parameters come from the checkpoint; "
                             "--dbn-layers and training options apply")
    config.add_hparam_arguments(parser, config.PRETRAIN)
    return parser


ARCHITECTURE = ("lowest_note", "highest_note", "articulation", "steps_per_rbm", "n_hidden", "n_hidden_recurrent", "cell")


def stack_on(args, given):
    """Write <checkpoint-dir>/initialized.ckpt: a DBN stacked on the RNN-RBM checkpoint args.stack."""
    source = checkpoints.resolve(args.stack)
    checkpoints.check_exists(source, "pass a trained RNN-RBM checkpoint, e.g. runs/jsb/epoch_500.ckpt")
    rbm_hp, _ = checkpoints.load_hparams(source)
    if rbm_hp.model != "rnn-rbm":
        raise ValueError(f"{source} is a {rbm_hp.model} checkpoint; --stack takes an RNN-RBM's (--model rnn-rbm)")
    changed = sorted(name for name in given if name in ARCHITECTURE and given[name] != getattr(rbm_hp, name))
    if changed:
        raise ValueError(f"--stack keeps {source}'s {', '.join(changed)}; leave {'them' if len(changed) > 1 else 'it'} "
                         "out")
    if given.get("rnn_pretrain_epochs"):
        raise ValueError("--stack starts from a trained RNN: leave out --rnn-pretrain-epochs")
    held = checkpoints.run_checkpoints(args.checkpoint_dir) if os.path.isdir(args.checkpoint_dir) else []
    if held:      # its initialized.ckpt would be replaced, and --resume there would go on with that run, not the DBN
        raise ValueError(f"{args.checkpoint_dir}/ holds a training run ({training.describe_run_checkpoint(held[-1])}); "
                         "a stacked DBN starts a new run: give --checkpoint-dir <a new folder>, e.g. runs/dbn")
    hp = rbm_hp.replace(**{**given, "model": "rnn-dbn"}).validate()
    reader = tf.train.load_checkpoint(source)
    W, bv, bh, Wuh, Wuv = (reader.get_tensor(name) for name in ("W", "bv", "bh", "Wuh", "Wuv"))
    bh, Wuh, upper = DBN.stack(W, bv, bh, Wuh, Wuv, hp.hidden_layers, np.random.default_rng(hp.seed))
    graph = tf.Graph()
    with graph.as_default(), tf.Session(graph=graph) as sess:
        params = rnn_rbm.create_params(hp)
        stacked = {"bh": bh, "Wuh": Wuh, **{f"W{l + 2}": W for l, W in enumerate(upper)}}
        for name, var in rnn_rbm.named_variables(params).items():
            value = stacked[name] if name in stacked else reader.get_tensor(name)
            if tuple(value.shape) != tuple(var.shape):
                raise ValueError(f"{source}'s {name} is {value.shape}, the DBN's {tuple(var.shape)}: pass a "
                                 "checkpoint whose hparams.json matches it")
            var.load(value, sess)
        path = checkpoints.save(sess, checkpoints.make_saver(params), os.path.join(args.checkpoint_dir,
                                "initialized.ckpt"), hp, data=args.data, split=args.split, stacked_from=source)
    log.info("wrote %s: a %s DBN stacked on %s, its bound starting at that RNN-RBM's log-likelihood; next: python "
             "rnn_rbm_train.py <epochs>%s", path, " x ".join(map(str, (hp.n_visible, *hp.hidden_layers))), source,
             training.run_options(args.checkpoint_dir, args.data, args.split))
    return 0


def visible_log_odds(rows, min_prob):
    """log(p / (1 - p)) of each visible unit's frequency p in `rows`, p clipped to [min_prob, 1 - min_prob].

    Without it a unit that is never on in the data starts at bv = 0 and is sampled on half
    the time; CD then takes many epochs to push it down, and generation stays noisy.
    """
    p = np.clip(rows.mean(axis=0), min_prob, 1.0 - min_prob)
    return np.log(p / (1.0 - p)).astype(np.float32)


def pretrain_frames(sess, rbm, rows, hp, epochs, check):
    """Epochs `epochs` of the frame pretraining graph `rbm` (rnn_rbm.build_frame_pretraining_graph)
    over `rows`, each epoch's batches in an order fixed by (seed, epoch); yields (epoch, mean cost) after each.
    Epochs are counted over every stage: epoch e trains stage (e - 1) // pretrain_epochs (a DBN's layer)."""
    for epoch in epochs:
        stage = (epoch - 1) // hp.pretrain_epochs
        order = np.random.default_rng([hp.seed, epoch]).permutation(len(rows))
        total = 0.0
        for i, begin in enumerate(range(0, len(rows), hp.pretrain_batch)):
            batch = rows[order[begin:begin + hp.pretrain_batch]]
            c, _ = sess.run([rbm.costs[stage], rbm.train_ops[stage]],
                            {rbm.x: batch, rbm.seed: RBM.epoch_run_seed(hp.seed, epoch, i)})
            total += float(c) * len(batch)
            check()
        yield epoch, total / len(rows)


def out_of_time(minutes, start, epoch, last, stage):
    """Whether the stage that began at `start` has used its `minutes` (None: no bound) with epochs
    left after `epoch` (of `last`); says so when it has."""
    if minutes is None or epoch >= last or time.time() - start < 60.0 * minutes:
        return False
    log.info("%g minutes reached: the %s pretraining stops after epoch %d", minutes, stage, epoch)
    return True


def resume_state(args, given):
    """(checkpoint, hparams with `given` applied, run state) of the interrupted pretraining that
    --resume continues. Its epoch counts may change, as long as they do not undo finished epochs."""
    path = os.path.join(args.checkpoint_dir, training.PRETRAINING_INTERRUPTED)
    checkpoints.check_exists(path, "nothing to resume: run weight_initializations.py without --resume")
    saved_hp, run = checkpoints.load_hparams(path)
    differences = training.run_differences(saved_hp, run, given, args.data, args.split,
                                           free=("pretrain_epochs", "rnn_pretrain_epochs"))
    hp = saved_hp.replace(**given).validate()
    stages = rnn_rbm.pretraining_stages(hp)
    if run["stage"] == "rbm" and stages > 1 and hp.pretrain_epochs != saved_hp.pretrain_epochs:
        differences.append(f"pretrain_epochs: each of the {stages} layers takes {saved_hp.pretrain_epochs}, asked "
                           f"{hp.pretrain_epochs}")
    if run["stage"] == "rbm" and run["epoch"] > stages * hp.pretrain_epochs:
        differences.append(f"pretrain_epochs: {run['epoch']} already done, asked {hp.pretrain_epochs}")
    if run["stage"] == "rnn" and hp.pretrain_epochs != saved_hp.pretrain_epochs:
        differences.append(f"pretrain_epochs: the RBM's {saved_hp.pretrain_epochs} are done, asked {hp.pretrain_epochs}")
    if run["stage"] == "rnn" and run["epoch"] > hp.rnn_pretrain_epochs:
        differences.append(f"rnn_pretrain_epochs: {run['epoch']} already done, asked {hp.rnn_pretrain_epochs}")
    if differences:
        raise ValueError(f"{path} is not the pretraining asked for ({'; '.join(differences)}); repeat its --data "
                         "and options to continue it, or start afresh without --resume")
    return path, hp, run


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    given = config.given_hparams(args)
    if args.stack:
        if args.resume:
            raise ValueError("--stack writes a new initialized.ckpt at once: leave out --resume")
        return stack_on(args, given)
    if args.resume:
        resumed, hp, run = resume_state(args, {**config.PRESETS[args.preset], **given})
    else:
        resumed, hp, run = None, config.preset(args.preset, **given), {"stage": "rbm", "epoch": 0}
    songs = datasets.load_data(args.data, hp, args.split, args.cache_dir)
    song_rows = datasets.songs_to_rows(songs, hp)
    rows = np.concatenate(song_rows)
    # epochs already done: (RBM, RNN)
    done = (run["epoch"], 0) if run["stage"] == "rbm" else (rnn_rbm.pretraining_stages(hp) * hp.pretrain_epochs, run["epoch"])
    if resumed:
        log.info("resuming %s after %s pretraining epoch %d", resumed, run["stage"].upper(), run["epoch"])
    frame = {"rnn-rbm": f"RBM with CD-{hp.pretrain_k}", "rnn-nade": "NADE", "rnn": "Bernoulli units",
             "rtrbm": f"RBM with CD-{hp.pretrain_k}", "rnn-dbn": f"DBN with CD-{hp.pretrain_k}"}[hp.model]
    stages = rnn_rbm.pretraining_stages(hp)
    sizes = " x ".join(map(str, (hp.n_visible, *(hp.hidden_layers if hp.model == "rnn-dbn" else (hp.n_hidden,)))))
    log.info("pretraining a %s %s (%s, %s cell) on %d rows for %d epochs%s", sizes, frame, hp.model, hp.cell,
             len(rows), hp.pretrain_epochs, f", layer by layer (greedy)" if stages > 1 else "")

    start = time.time()
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(hp.seed)
        params = rnn_rbm.create_params(hp)
        rbm = rnn_rbm.build_frame_pretraining_graph(hp, params)
        lanes = training.lane_count(hp, song_rows)
        rnn = rnn_rbm.build_rnn_pretraining_graph(hp, params, lanes) if hp.rnn_pretrain_epochs else None
        run_state = {"bo": rnn.bo, **rnn.optimizer_state} if rnn else {}
        state = rnn_rbm.variables(params) + list(run_state.values())
        saver = checkpoints.make_saver(params)
        mean_cost, nll = run.get("pretrain_cost", float("nan")), run.get("rnn_pretrain_nll", float("nan"))
        stage, epoch = run["stage"], run["epoch"]
        ctrl_c = training.CtrlC()
        with tf.Session(graph=graph) as sess:
            sess.run(tf.global_variables_initializer())
            if resumed:
                checkpoints.restore(sess, checkpoints.make_saver(params, run_state), resumed)
            else:
                log_odds = visible_log_odds(rows, hp.bv_min_prob)
                if hp.bv_from_data:
                    sess.run(params.bv.assign(log_odds))
                if rnn:
                    sess.run(rnn.bo.assign(log_odds))
            ctrl_c.install()
            try:
                last_whole_epoch = training.snapshot(sess, state)
                each = hp.pretrain_epochs
                bar = tqdm(desc=f"pretraining {frame.split()[0]}", unit="epoch", initial=done[0], total=stages * each,
                           disable=args.quiet)
                minutes = None if args.minutes is None else args.minutes / stages     # a DBN's layers share them
                for layer in range(done[0] // each if each else stages, stages):
                    layer_start = time.time()
                    epochs = range(max(done[0], layer * each) + 1, (layer + 1) * each + 1)
                    for epoch, mean_cost in pretrain_frames(sess, rbm, rows, hp, epochs, ctrl_c.check):
                        last_whole_epoch = training.snapshot(sess, state)
                        bar.update(epoch - bar.n)
                        bar.set_postfix(cost=f"{mean_cost:.4f}", **({"layer": layer + 1} if stages > 1 else {}))
                        if out_of_time(minutes, layer_start, epoch, epochs[-1], f"layer {layer + 1}'s" if stages > 1
                                       else "frame"):
                            if stages == 1:
                                hp = hp.replace(pretrain_epochs=epoch)
                            break
                bar.close()
                stage, epoch = "rnn", done[1]
                if rnn:
                    bar = tqdm(range(done[1] + 1, hp.rnn_pretrain_epochs + 1), desc="pretraining RNN", unit="epoch",
                               initial=done[1], total=hp.rnn_pretrain_epochs, disable=args.quiet)
                    stage_start = time.time()
                    for rnn_epoch in bar:
                        nll = training.train_epoch(sess, rnn, song_rows, hp, rnn_epoch, ctrl_c.check)
                        epoch, last_whole_epoch = rnn_epoch, training.snapshot(sess, state)
                        bar.set_postfix(nll=f"{nll:.4f}")
                        if out_of_time(args.minutes, stage_start, rnn_epoch, hp.rnn_pretrain_epochs, "RNN"):
                            hp = hp.replace(rnn_pretrain_epochs=rnn_epoch)
                            break
                    log.info("RNN pretraining: %.4f nats per row on the training rows after %d epochs",
                             nll, hp.rnn_pretrain_epochs)
            except KeyboardInterrupt:
                training.restore_snapshot(sess, state, last_whole_epoch)
                path = checkpoints.save(sess, checkpoints.make_saver(params, run_state),
                                        os.path.join(args.checkpoint_dir, training.PRETRAINING_INTERRUPTED), hp,
                                        stage=stage, epoch=epoch, data=args.data, split=args.split,
                                        pretrain_cost=mean_cost, rnn_pretrain_nll=nll)
                print(f"interrupted: saved the pretraining after {stage.upper()} epoch {epoch} to {path}; continue "
                      f"with: python weight_initializations.py --resume"
                      f"{training.run_options(args.checkpoint_dir, args.data, args.split)}", file=sys.stderr)
                return 0
            finally:
                ctrl_c.restore()
            extra = {"rnn_pretrain_nll": nll} if rnn else {}
            path = checkpoints.save(sess, saver, os.path.join(args.checkpoint_dir, "initialized.ckpt"), hp,
                                    data=args.data, split=args.split, pretrain_cost=mean_cost, **extra)
    if resumed:
        checkpoints.remove(resumed)       # finished: initialized.ckpt holds all it had
    cost = f"final {frame} cost {mean_cost:.4f}" if hp.pretrain_epochs else f"{frame} not pretrained"
    log.info("wrote %s in %.1f s (%s); next: python rnn_rbm_train.py <epochs>%s",
             path, time.time() - start, cost, training.run_options(args.checkpoint_dir, args.data, args.split))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
