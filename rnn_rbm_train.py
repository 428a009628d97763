"""Train the RNN-RBM with the free-energy loss, starting from weight_initializations.py's checkpoint.

    python rnn_rbm_train.py <epochs> [--data Pop_Music_Midi] [--init parameter_checkpoints/initialized.ckpt]

Every `save_every` epochs (and at the end) it writes parameter_checkpoints/epoch_<n>.ckpt, and
it appends each epoch's mean cost and time to parameter_checkpoints/training_log.csv.
Ctrl-C saves parameter_checkpoints/interrupted.ckpt and exits cleanly.
"""
import logging
import math
import os
import signal
import sys
import threading
import time

import numpy as np
import pandas as pd
from tqdm import tqdm

import checkpoints
import cli
import config
import datasets
import plots

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
                        help="continue from the checkpoint in --checkpoint-dir with the most finished epochs "
                             "(its epoch count, schedule, random draws and log)")
    parser.add_argument("--log", default=None,
                        help="CSV log of the epochs, with a .png loss curve beside it "
                             "(default: <checkpoint-dir>/training_log.csv)")
    parser.add_argument("--cache-dir", default=datasets.DEFAULT_CACHE,
                        help="cache of parsed songs, '' for none (default: %(default)s)")
    config.add_hparam_arguments(parser)
    return parser


def parse_args(argv):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.num_epochs is not None:
        if args.epochs is not None and args.epochs != args.num_epochs:
            parser.error(f"epochs given twice ({args.num_epochs} and --epochs {args.epochs})")
        args.epochs = args.num_epochs
    return args


def pack_lanes(song_rows, hp, rng):
    """Lay the songs, shuffled by `rng`, end to end in `batch_songs` lanes, cut into chunks.

    Each song goes to the lane that is shortest so far, so padding is only the few rows that
    even out the lanes at the end. Returns x [chunks, lanes, chunk_len, n_visible] and mask,
    reset [chunks, lanes, chunk_len], each chunk contiguous in memory so that feeding it costs
    one copy; reset marks the first row of each song.
    """
    n_lanes = min(hp.batch_songs, len(song_rows))
    lanes, lengths = [[] for _ in range(n_lanes)], np.zeros(n_lanes, np.int64)
    for i in rng.permutation(len(song_rows)):
        lane = int(np.argmin(lengths))
        lanes[lane].append(song_rows[i])
        lengths[lane] += len(song_rows[i])
    n_chunks, chunk_len = math.ceil(lengths.max() / hp.chunk_len), hp.chunk_len
    x = np.zeros((n_chunks, n_lanes, chunk_len, hp.n_visible), np.float32)
    mask = np.zeros(x.shape[:3], np.float32)
    reset = np.zeros(x.shape[:3], np.float32)
    for lane, songs in enumerate(lanes):
        t = 0
        for rows in songs:
            reset[t // chunk_len, lane, t % chunk_len] = 1.0
            done = 0
            while done < len(rows):   # the song's rows, a chunk at a time, straight into the chunk-major layout
                chunk, step = divmod(t + done, chunk_len)
                take = min(chunk_len - step, len(rows) - done)
                x[chunk, lane, step:step + take] = rows[done:done + take]
                mask[chunk, lane, step:step + take] = 1.0
                done += take
            t += len(rows)
    return x, mask, reset


def transpose_rows(rows, shift, n_notes):
    """RBM rows ([rows, n_visible]) with every key moved `shift` keys up (down when negative).

    A row is steps x {play, articulate} blocks of n_notes keys each; keys moved past either end
    are dropped, so pick shifts that keep the song's notes on the keys (`transpose_songs`)."""
    keys = rows.reshape(len(rows), -1, n_notes)      # [rows, steps * bit kinds, n_notes]
    moved = np.zeros_like(keys)
    if shift >= 0:
        moved[..., shift:] = keys[..., :n_notes - shift]
    else:
        moved[..., :shift] = keys[..., -shift:]
    return moved.reshape(rows.shape)


def transpose_songs(song_rows, hp, rng):
    """Every song moved by a shift drawn uniformly from the shifts in [-hp.transpose, hp.transpose]
    that keep all its notes on the keys (a song that spans every key stays put)."""
    moved = []
    for rows in song_rows:
        used = np.flatnonzero(rows.reshape(-1, hp.n_notes).any(axis=0))
        low = max(-hp.transpose, -int(used[0])) if len(used) else 0
        high = min(hp.transpose, hp.n_notes - 1 - int(used[-1])) if len(used) else 0
        moved.append(transpose_rows(rows, int(rng.integers(low, high + 1)), hp.n_notes))
    return moved


class CtrlC:
    """Ctrl-C as a flag that training reads after each chunk, so that one press always stops it:
    a KeyboardInterrupt raised where Python swallows exceptions (a finalizer, say) would be lost.
    A second press interrupts at once. Where SIGINT is ignored, or off the main thread, nothing
    changes."""

    def __init__(self):
        self.pressed = False
        self.installed = False

    def install(self):
        self.installed = (threading.current_thread() is threading.main_thread()
                          and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
        if self.installed:
            signal.signal(signal.SIGINT, self._press)

    def _press(self, signum, frame):
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True

    def check(self):
        if self.pressed:
            raise KeyboardInterrupt

    def restore(self):
        if self.installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.installed = False


def learning_rate(hp, epoch):
    return hp.lr / (1.0 + hp.lr_decay * (epoch - 1))


def used_steps(mask, chunk_len):
    """Steps of a chunk's mask ([lanes, chunk_len]) worth running: up to its last real row, rounded
    up to a quarter of chunk_len, so that a part-empty last chunk costs little and XLA sees at
    most four shapes."""
    quarter = max(1, chunk_len // 4)
    real = np.flatnonzero(mask.any(axis=0))
    return min(chunk_len, -(-(int(real[-1]) + 1) // quarter) * quarter) if len(real) else quarter


def train_epoch(sess, model, song_rows, hp, epoch, check=lambda: None):
    """One pass over every song, chunk by chunk; returns the mean cost per real row.

    The song order and every random draw are functions of (seed, epoch), so an epoch can be
    replayed exactly, after a resume too. `check` is called after each chunk (CtrlC.check).
    """
    import RBM
    rng = np.random.default_rng([hp.seed, epoch])
    if hp.transpose:
        song_rows = transpose_songs(song_rows, hp, rng)
    x, mask, reset = pack_lanes(song_rows, hp, rng)
    u = np.zeros((x.shape[1], hp.n_hidden_recurrent), np.float32)
    total = 0.0
    for i in range(len(x)):
        steps = used_steps(mask[i], hp.chunk_len)
        cost, u, _ = sess.run([model.cost, model.u_final, model.train_op],
                              {model.x: x[i][:, :steps], model.mask: mask[i][:, :steps],
                               model.reset: reset[i][:, :steps], model.u_carry: u,
                               model.lr: learning_rate(hp, epoch), model.seed: RBM.run_seed(hp.seed, (epoch << 24) + i)})
        total += float(cost) * float(mask[i].sum())
        check()
    return total / float(mask.sum())


def append_log(path, row):
    pd.DataFrame([row]).to_csv(path, mode="a", header=not os.path.exists(path), index=False)


def plot_log(path):
    """Draw the loss curve of the CSV log at `path` beside it; returns the PNG path."""
    return plots.save_loss_curve_png(pd.read_csv(path), os.path.splitext(path)[0] + ".png")


def resume_point(directory):
    """The checkpoint in `directory` that recorded the most finished epochs, or None."""
    found = []
    for path in checkpoints.all_checkpoints(directory):
        _, extra = config.load_hparams(path)
        if isinstance(extra.get("epoch"), int):
            found.append((extra["epoch"], os.path.getmtime(path + ".index"), path))
    return max(found)[2] if found else None


def truncate_log(path, last_epoch):
    """Drop the rows of epochs after `last_epoch` (logged after the checkpoint we resume from)."""
    if os.path.exists(path):
        rows = pd.read_csv(path)
        rows[rows.epoch <= last_epoch].to_csv(path + ".tmp", index=False)
        os.replace(path + ".tmp", path)


def main(argv=None):
    args = parse_args(argv)
    cli.setup_logging(args)
    first_epoch = 1
    if args.resume:
        if args.init:
            raise ValueError("--resume continues from the newest checkpoint in --checkpoint-dir; drop --init")
        init = resume_point(args.checkpoint_dir)
        if init is None:
            raise ValueError(f"nothing to resume in {args.checkpoint_dir}/: no epoch_<n>.ckpt or interrupted.ckpt; "
                             "start without --resume")
    else:
        init = args.init or os.path.join(args.checkpoint_dir, "initialized.ckpt")
        checkpoints.check_exists(init, "run `python weight_initializations.py` first, or pass --init <checkpoint>")
    init_hp, init_extra = config.load_hparams(init)
    hp = config.hparams_from_args(args, base=init_hp)
    checkpoints.check_compatible(hp, init_hp, init)
    log_path = args.log or os.path.join(args.checkpoint_dir, "training_log.csv")
    os.makedirs(args.checkpoint_dir, exist_ok=True)
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    if args.resume:
        first_epoch = init_extra["epoch"] + 1
        truncate_log(log_path, init_extra["epoch"])
        log.info("resuming from %s after epoch %d", init, init_extra["epoch"])

    song_rows = datasets.songs_to_rows(datasets.load_data(args.data, hp, args.split, args.cache_dir), hp)

    tf = cli.import_tf()
    import rnn_rbm
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(hp.seed)
        model = rnn_rbm.build_training_graph(hp)
        saver = checkpoints.make_saver(model.params)
        sess = tf.Session(graph=graph, config=rnn_rbm.session_config(model.blocks))
        sess.run(tf.global_variables_initializer())
        checkpoints.restore(sess, saver, init)

    def save(name, epoch, cost):
        return checkpoints.save(sess, saver, os.path.join(args.checkpoint_dir, name), hp,
                                epoch=epoch, cost=cost, data=args.data, init=init)

    log.info("training on %d songs (%d rows), epochs %d to %d, from %s", len(song_rows),
             sum(len(r) for r in song_rows), first_epoch, hp.epochs, init)
    start, cost, saved = time.time(), init_extra.get("cost", float("nan")), None
    bar = tqdm(range(first_epoch, hp.epochs + 1), desc="training", unit="epoch", disable=args.quiet)
    epoch, snapshot = first_epoch, None
    ctrl_c = CtrlC()
    ctrl_c.install()
    try:
        for epoch in bar:
            snapshot = sess.run(list(model.params))      # what Ctrl-C saves: the last whole epoch
            ctrl_c.check()
            epoch_start = time.time()
            lr = learning_rate(hp, epoch)
            epoch_cost = train_epoch(sess, model, song_rows, hp, epoch, ctrl_c.check)
            if not np.isfinite(epoch_cost):
                log.error("epoch %d: the cost is %s, so training diverged and stopped. The last good checkpoint "
                          "is %s. Try a smaller --lr or --grad-clip.", epoch, epoch_cost, saved or init)
                return 1
            cost = epoch_cost
            seconds = time.time() - epoch_start
            append_log(log_path, {"epoch": epoch, "cost": cost, "seconds": round(seconds, 3), "lr": lr})
            bar.set_postfix(cost=f"{cost:.4f}")
            if not args.quiet:
                tqdm.write(f"epoch {epoch}: cost {cost:.4f} ({seconds:.1f} s)")
            if epoch % hp.save_every == 0 or epoch == hp.epochs:
                saved = save(f"epoch_{epoch}.ckpt", epoch, cost)
                plot_log(log_path)
    except KeyboardInterrupt:
        bar.close()
        if snapshot is not None:
            for var, value in zip(model.params, snapshot):
                var.load(value, sess)
        saved = save("interrupted.ckpt", epoch - 1, cost)
        print(f"interrupted in epoch {epoch}: saved the weights after epoch {epoch - 1} to {saved}; "
              f"continue with: python rnn_rbm_train.py {hp.epochs} --resume --checkpoint-dir {args.checkpoint_dir}",
              file=sys.stderr)
        return 0
    finally:
        ctrl_c.restore()
        sess.close()
    log.info("trained epochs %d to %d in %.1f s; final cost %.4f\n  last checkpoint: %s\n  log: %s\n  loss curve: %s",
             first_epoch, hp.epochs, time.time() - start, cost, saved, log_path,
             plot_log(log_path) if os.path.exists(log_path) else "none")
    log.info("next: python rnn_rbm_generate.py %s", saved)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
