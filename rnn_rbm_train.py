"""Train the RNN-RBM with the free-energy loss, starting from weight_initializations.py's checkpoint.

    python rnn_rbm_train.py <epochs> [--data Pop_Music_Midi] [--init parameter_checkpoints/initialized.ckpt]

Every `save_every` epochs (and at the end) it writes parameter_checkpoints/epoch_<n>.ckpt, and
it appends each epoch's mean cost and time to parameter_checkpoints/training_log.csv.
Ctrl-C saves parameter_checkpoints/interrupted.ckpt and exits cleanly. A folder holds one run:
--resume continues it (with Adam's moments, when it trains with Adam), and a new run goes in
another --checkpoint-dir.
"""
import logging
import os
import shlex
import sys
import time

import numpy as np
from tqdm import tqdm

import checkpoints
import cli
import config
import datasets
import rnn_rbm
import training
from tf1 import tf

log = logging.getLogger(__name__)


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("num_epochs", nargs="?", type=int, default=None,
                        help="training epochs (same as --epochs; default: epochs in config.py)")
    parser.add_argument("--data", default=datasets.DEFAULT_DATA,
                        help="folder of .mid/.midi files (searched recursively) or a benchmark .pickle "
                             "(default: %(default)s)")
    parser.add_argument("--split", default="train", help="split of a .pickle dataset to train on (default: %(default)s)")
    parser.add_argument("--init", default=None,
                        help="checkpoint to start from (default: <checkpoint-dir>/initialized.ckpt)")
    parser.add_argument("--checkpoint-dir", default=checkpoints.DEFAULT_DIR,
                        help="where epoch_<n>.ckpt go (default: %(default)s)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --checkpoint-dir from its newest epoch_<n>.ckpt or interrupted.ckpt "
                             "(its epoch count, schedule, random draws, optimizer state and log); refused if that "
                             "run's --data or options differ from those given")
    parser.add_argument("--restart-optimizer", action="store_true",
                        help="with --resume: start the optimizer's state (Adam's moments) afresh, as every resume "
                             "did before checkpoints carried it")
    parser.add_argument("--log", default=None,
                        help="CSV log of the epochs, with a .png loss curve beside it "
                             "(default: <checkpoint-dir>/training_log.csv)")
    parser.add_argument("--cache-dir", default=datasets.DEFAULT_CACHE,
                        help="cache of parsed songs, '' for none (default: %(default)s)")
    config.add_hparam_arguments(parser, config.TRAIN)
    return parser


def parse_args(argv):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.num_epochs is not None:
        if args.epochs is not None and args.epochs != args.num_epochs:
            parser.error(f"epochs given twice ({args.num_epochs} and --epochs {args.epochs})")
        args.epochs = args.num_epochs
    return args


def main(argv=None):
    args = parse_args(argv)
    cli.setup_logging(args)
    given = config.given_hparams(args)
    if args.restart_optimizer and not args.resume:
        raise ValueError("--restart-optimizer goes with --resume; a new run's optimizer starts afresh anyway")
    if args.resume:
        if args.init:
            raise ValueError("--resume continues the run in --checkpoint-dir; drop --init")
        init, init_hp, init_run = training.resume_point(args.checkpoint_dir, given, args.data, args.split)
    else:
        training.check_no_run(args.checkpoint_dir)
        init = args.init or os.path.join(args.checkpoint_dir, "initialized.ckpt")
        checkpoints.check_exists(init, missing_init_hint(args.checkpoint_dir))
        init_hp, init_run = checkpoints.load_hparams(init)
    hp = config.hparams_from_args(args, base=init_hp)
    first_epoch = init_run["epoch"] + 1 if args.resume else 1
    if first_epoch > hp.epochs:
        raise ValueError(f"{init} has finished {first_epoch - 1} epochs, so there is nothing to train up to epoch "
                         f"{hp.epochs}; ask for more, e.g. python rnn_rbm_train.py {first_epoch - 1 + hp.save_every} "
                         "--resume" if args.resume else f"asked for {hp.epochs} epochs; ask for at least 1")
    log_path = args.log or os.path.join(args.checkpoint_dir, "training_log.csv")
    os.makedirs(args.checkpoint_dir, exist_ok=True)
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    training.truncate_log(log_path, first_epoch - 1)      # rows of epochs that no checkpoint kept
    if args.resume:
        log.info("resuming %s after epoch %d", init, first_epoch - 1)

    song_rows = datasets.songs_to_rows(datasets.load_data(args.data, hp, args.split, args.cache_dir), hp)

    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(hp.seed)
        model = rnn_rbm.build_training_graph(hp, training.gibbs_blocks(hp), training.lane_count(hp, song_rows))
        state = rnn_rbm.variables(model.params) + list(model.optimizer_state.values())
        saver = checkpoints.make_saver(model.params, model.optimizer_state)
        sess = tf.Session(graph=graph, config=rnn_rbm.session_config(model.blocks, training.CORES))
        sess.run(tf.global_variables_initializer())
        keep_optimizer = args.resume and not args.restart_optimizer and bool(model.optimizer_state)
        if keep_optimizer and not checkpoints.holds(init, model.optimizer_state):
            log.warning("%s holds no %s state (an older checkpoint), so the optimizer starts afresh", init, hp.optimizer)
            keep_optimizer = False
        checkpoints.restore(sess, saver if keep_optimizer else checkpoints.make_saver(model.params), init)

    def save(name, epoch, cost):
        return checkpoints.save(sess, saver, os.path.join(args.checkpoint_dir, name), hp,
                                epoch=epoch, cost=cost, data=args.data, split=args.split, init=init)

    log.info("training on %d songs (%d rows), epochs %d to %d, from %s", len(song_rows),
             sum(len(r) for r in song_rows), first_epoch, hp.epochs, init)
    start, cost, saved = time.time(), init_run.get("cost", float("nan")), None
    bar = tqdm(range(first_epoch, hp.epochs + 1), desc="training", unit="epoch", disable=args.quiet)
    epoch, last_whole_epoch = first_epoch, None
    ctrl_c = training.CtrlC()
    ctrl_c.install()
    try:
        for epoch in bar:
            last_whole_epoch = training.snapshot(sess, state)     # what Ctrl-C saves
            ctrl_c.check()
            epoch_start = time.time()
            lr = training.learning_rate(hp, epoch)
            hf_stats = []
            epoch_cost = training.train_epoch(sess, model, song_rows, hp, epoch, ctrl_c.check, hf_stats.append)
            if not np.isfinite(epoch_cost):
                log.error("epoch %d: the cost is %s, so training diverged and stopped. The last good checkpoint "
                          "is %s. Try a smaller --lr or --grad-clip.", epoch, epoch_cost, saved or init)
                return 1
            cost = epoch_cost
            seconds = time.time() - epoch_start
            hf = {} if not hf_stats else {"cg_iterations": hf_stats[0].cg_iterations, "cg_kept": hf_stats[0].kept_iteration,
                                          "lambda": hf_stats[0].lam, "rho": hf_stats[0].rho, "rate": hf_stats[0].rate}
            training.append_log(log_path, {"epoch": epoch, "cost": cost, "seconds": round(seconds, 3), "lr": lr, **hf})
            bar.set_postfix(cost=f"{cost:.4f}")
            if not args.quiet:
                tqdm.write(f"epoch {epoch}: cost {cost:.4f} ({seconds:.1f} s)" + (
                    f"; HF: {hf['cg_iterations']} CG iterations ({hf_stats[0].cg_stop}), kept {hf['cg_kept']}, "
                    f"rho {hf['rho']:.2f}, rate {hf['rate']:.2f}, lambda {hf['lambda']:.3g}" if hf else ""))
            if epoch % hp.save_every == 0 or epoch == hp.epochs:
                saved = save(f"epoch_{epoch}.ckpt", epoch, cost)
                training.plot_log(log_path)
    except KeyboardInterrupt:
        bar.close()
        if last_whole_epoch is not None:
            training.restore_snapshot(sess, state, last_whole_epoch)
        saved = save("interrupted.ckpt", epoch - 1, cost)
        print(f"interrupted in epoch {epoch}: saved the weights after epoch {epoch - 1} to {saved}; "
              f"continue with: python rnn_rbm_train.py {hp.epochs} --resume"
              f"{training.run_options(args.checkpoint_dir, args.data, args.split)}", file=sys.stderr)
        return 0
    finally:
        ctrl_c.restore()
        sess.close()
    log.info("trained epochs %d to %d in %.1f s; final cost %.4f\n  last checkpoint: %s\n  log: %s\n  loss curve: %s",
             first_epoch, hp.epochs, time.time() - start, cost, saved, log_path,
             training.plot_log(log_path) if os.path.exists(log_path) else "none")
    log.info("next: python rnn_rbm_generate.py %s", shlex.quote(saved))
    return 0


def missing_init_hint(directory):
    interrupted = os.path.join(directory, training.PRETRAINING_INTERRUPTED)
    if checkpoints.exists(interrupted):
        return (f"pretraining was interrupted ({interrupted}); finish it with "
                f"`python weight_initializations.py --resume{training.folder_option(directory)}` and the same --data")
    return "run `python weight_initializations.py` first, or pass --init <checkpoint>"


if __name__ == "__main__":
    sys.exit(cli.run(main))
