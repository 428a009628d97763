"""The training loop that weight_initializations.py and rnn_rbm_train.py share: lane packing,
transposition, the learning-rate schedule, one epoch of chunks, Ctrl-C, the CSV log, and the rules
by which --resume finds the run to continue.

A training run in a folder is its run checkpoints, epoch_<n>.ckpt and interrupted.ckpt
(checkpoints.run_checkpoints); a folder holds at most one run, and --resume continues the newest
of its checkpoints only if it is the run the user asked for.
"""
import collections
import logging
import math
import os
import shlex
import signal
import threading

import numpy as np
import pandas as pd

import checkpoints
import datasets
import HF
import plots
import RBM
import rnn_rbm

log = logging.getLogger(__name__)

CORES = os.cpu_count() or 1
PRETRAINING_INTERRUPTED = "pretraining_interrupted.ckpt"   # what Ctrl-C during weight_initializations.py saves
# Options that may change when a run goes on: how long it trains and how often it saves.
RESUMABLE_CHANGES = ("epochs", "save_every")


def lane_count(hp, song_rows):
    """Lanes of every chunk of an epoch over `song_rows`: batch_songs, or one per song where
    there are fewer songs. Give it to the training graph (rnn_rbm.build_training_graph)."""
    return min(hp.batch_songs, len(song_rows))


def pack_lanes(song_rows, hp, rng):
    """Lay the songs, shuffled by `rng`, end to end in `batch_songs` lanes, cut into chunks.

    Each song goes to the lane that is shortest so far, so padding is only the few rows that
    even out the lanes at the end; it only ends a lane, which rnn_rbm.rnn_states relies on. Returns x [chunks, lanes, chunk_len, n_visible] and mask,
    reset [chunks, lanes, chunk_len], each chunk contiguous in memory so that feeding it costs
    one copy; reset marks the first row of each song.
    """
    n_lanes = lane_count(hp, song_rows)
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


def gibbs_blocks(hp):
    """Side-by-side Gibbs blocks of the training graph for hp's chunks, on this machine's cores
    (1 for a model without Gibbs chains)."""
    return 1 if rnn_rbm.exact(hp) else rnn_rbm.gibbs_blocks(hp.batch_songs * hp.chunk_len, CORES)


def learning_rate(hp, epoch):
    return hp.lr / (1.0 + hp.lr_decay * (epoch - 1))


def used_steps(mask, chunk_len):
    """Steps of a chunk's mask ([lanes, chunk_len]) worth running: up to its last real row, rounded
    up to a quarter of chunk_len, so that a part-empty last chunk costs little and XLA sees at
    most four shapes."""
    quarter = max(1, chunk_len // 4)
    real = np.flatnonzero(mask.any(axis=0))
    return min(chunk_len, -(-(int(real[-1]) + 1) // quarter) * quarter) if len(real) else quarter


def train_epoch(sess, model, song_rows, hp, epoch, check=lambda: None, report=None):
    """One pass over every song, chunk by chunk; returns the mean cost per real row.

    The song order and every random draw are functions of (seed, epoch), so an epoch can be
    replayed exactly, after a resume too. `check` is called after each chunk (CtrlC.check).
    With --optimizer hf the epoch is one HF update instead (hf_epoch), whose HfStats go to `report`.
    """
    rng = np.random.default_rng([hp.seed, epoch])
    if hp.transpose:
        song_rows = transpose_songs(song_rows, hp, rng)
    if getattr(model, "hf", None) is not None:      # the RNN pretraining graph has no HF
        stats = hf_epoch(sess, model, song_rows, hp, rng, check)
        if report:
            report(stats)
        return stats.cost
    x, mask, reset = pack_lanes(song_rows, hp, rng)
    built_for = model.x.shape.as_list()[0]
    if built_for is not None and built_for != x.shape[1]:
        raise ValueError(f"the training graph was built for {built_for} lanes but these {len(song_rows)} songs fill "
                         f"{x.shape[1]}; build it with lanes=training.lane_count(hp, song_rows)")
    u = np.zeros((x.shape[1], rnn_rbm.state_size(hp)), np.float32)
    total = 0.0
    for i in range(len(x)):
        steps = used_steps(mask[i], hp.chunk_len)
        cost, u, _ = sess.run([model.cost, model.u_final, model.train_op],
                              {model.x: x[i][:, :steps], model.mask: mask[i][:, :steps],
                               model.reset: reset[i][:, :steps], model.u_carry: u,
                               model.lr: learning_rate(hp, epoch), model.seed: RBM.epoch_run_seed(hp.seed, epoch, i)})
        total += float(cost) * float(mask[i].sum())
        check()
    return total / float(mask.sum())


HF_SONGS_PER_RUN = 16     # whole songs per session run of an HF pass, songs of like length together


def song_batches(song_rows, indices):
    """[(x [songs, longest, nv], mask [songs, longest])]: the songs `indices`, HF_SONGS_PER_RUN at a
    time, sorted by length so that little is padding."""
    ordered = sorted(indices, key=lambda i: len(song_rows[i]))
    batches = []
    for begin in range(0, len(ordered), HF_SONGS_PER_RUN):
        songs = [song_rows[i] for i in ordered[begin:begin + HF_SONGS_PER_RUN]]
        longest = max(len(rows) for rows in songs)
        x = np.zeros((len(songs), longest, songs[0].shape[1]), np.float32)
        mask = np.zeros((len(songs), longest), np.float32)
        for lane, rows in enumerate(songs):
            x[lane, :len(rows)], mask[lane, :len(rows)] = rows, 1.0
        batches.append((x, mask))
    return batches


HfStats = collections.namedtuple("HfStats", ["cost", "cg_iterations", "cg_stop", "kept_iteration", "rho", "lam",
                                             "rate", "gradient_songs", "curvature_songs", "products"])


def hf_epoch(sess, model, song_rows, hp, rng, check=lambda: None):
    """One Hessian-free update (HF.py) over songs drawn by `rng`; returns its HfStats, whose cost is
    the mean cost per real row of its gradient batch before the update.

    The gradient comes from hf_batch_songs songs (all by default: an epoch of gradient work),
    the Gauss-Newton products, backtracking and line search from hf_curvature_share of them,
    as Martens (2010) takes a smaller batch for the curvature. lam and the last step (for CG's
    warm start) live in the optimizer's variables, so a resumed run goes on with them."""
    hf, state = model.hf, model.optimizer_state
    order = rng.permutation(len(song_rows))
    chosen = order[:hp.hf_batch_songs or len(order)]
    curvature_songs = chosen[:max(1, round(hp.hf_curvature_share * len(chosen)))]
    gradient_batches, curvature_batches = song_batches(song_rows, chosen), song_batches(song_rows, curvature_songs)
    feed = lambda batch, extra=None: {model.x: batch[0], model.mask: batch[1], **(extra or {})}

    def summed(batches, fetch, extra=None):
        parts = [sess.run(fetch, feed(batch, extra)) for batch in batches]
        check()
        return [np.sum([np.asarray(part[i], np.float64) for part in parts], 0) for i in range(len(fetch))], parts

    (loss, rows, grad), parts = summed(gradient_batches, [hf.loss_sum, hf.rows, hf.grad_sum])
    grad, f0 = grad / rows, float(loss / rows)
    # the empirical Fisher's diagonal, from the batches' mean gradients scaled to one row's variance
    fisher = sum(part_rows * (part_grad / part_rows - grad) ** 2 for _, part_rows, part_grad in parts) / rows
    lam, previous = float(sess.run(state["hf/lambda"])), sess.run(state["hf/delta"]).astype(np.float64)
    curvature_rows = float(sum(batch[1].sum() for batch in curvature_batches))
    products = [0]

    def product(d, damping=lam):
        products[0] += 1
        (total,), _ = summed(curvature_batches, [hf.product_sum], {hf.direction: d.astype(np.float32), hf.lam: damping})
        return total / curvature_rows + damping * d

    theta = snapshot(sess, hf.params)

    def objective(d):
        sess.run(hf.shift, {hf.direction: d.astype(np.float32)})
        (total,), _ = summed(curvature_batches, [hf.loss_sum])
        restore_snapshot(sess, hf.params, theta)
        return float(total / curvature_rows)

    solved = HF.conjugate_gradient(product, -grad, HF.WARM_START * previous, HF.preconditioner(fisher, lam),
                                   hp.hf_cg_iters)
    f_curvature = objective(np.zeros_like(grad))
    kept, step, f_step = HF.backtrack(solved.iterates, objective)
    model_change = float(grad @ step + 0.5 * step @ product(step, 0.0))     # the undamped quadratic's prediction
    rho = HF.reduction_ratio(f_step, f_curvature, model_change)
    new_lam = HF.damping_update(lam, rho)
    rate, _ = HF.line_search(objective, f_curvature, float(grad @ step), step)
    if rate:
        sess.run(hf.shift, {hf.direction: (rate * step).astype(np.float32)})
    state["hf/lambda"].load(new_lam, sess)
    state["hf/delta"].load(step.astype(np.float32), sess)
    return HfStats(cost=f0, cg_iterations=solved.iterations, cg_stop=solved.reason, kept_iteration=kept, rho=rho,
                   lam=new_lam, rate=rate, gradient_songs=len(chosen), curvature_songs=len(curvature_songs),
                   products=products[0])


def append_log(path, row):
    pd.DataFrame([row]).to_csv(path, mode="a", header=not os.path.exists(path), index=False)


def plot_log(path):
    """Draw the loss curve of the CSV log at `path` beside it; returns the PNG path."""
    return plots.save_loss_curve_png(pd.read_csv(path), os.path.splitext(path)[0] + ".png")


def truncate_log(path, last_epoch):
    """Drop the rows of epochs after `last_epoch` (logged after the checkpoint we resume from)."""
    if os.path.exists(path):
        rows = pd.read_csv(path)
        rows[rows.epoch <= last_epoch].to_csv(path + ".tmp", index=False)
        os.replace(path + ".tmp", path)


def snapshot(sess, variables):
    """The values of `variables` now, to put back with restore_snapshot."""
    return sess.run(list(variables))


def restore_snapshot(sess, variables, values):
    for var, value in zip(variables, values):
        var.load(value, sess)


def same_data(a, b):
    """Whether two --data values name the same folder or file."""
    return a == b or (isinstance(a, str) and isinstance(b, str) and os.path.realpath(a) == os.path.realpath(b))


def run_differences(saved_hp, run, given, data, split, free=RESUMABLE_CHANGES):
    """How a saved run differs from what the user asked for: ['data: run X, asked Y', ...].

    `given` holds the hyper-parameters given on the command line; those in `free` may differ."""
    differences = []
    if not same_data(run.get("data"), data):
        differences.append(f"data: run {run.get('data')}, asked {data}")
    elif datasets.is_pickle_dataset(data) and run.get("split", "train") != split:
        differences.append(f"split: run {run.get('split', 'train')}, asked {split}")
    for key, value in sorted(given.items()):
        if key not in free and getattr(saved_hp, key) != value:
            differences.append(f"{key}: run {getattr(saved_hp, key)}, asked {value}")
    return differences


def describe_run_checkpoint(path):
    try:
        _, run = checkpoints.load_hparams(path)
    except ValueError:
        return f"{os.path.basename(path)} (hparams.json unreadable)"
    return f"{os.path.basename(path)} (epoch {run.get('epoch')}, data {run.get('data')})"


def resume_point(directory, given, data, split):
    """(path, hparams, run state) of the checkpoint that --resume continues: the newest run
    checkpoint in `directory`, if it is the run of this data and these hyper-parameters.

    Anything else is a ValueError that names what was found: resuming another run would
    silently train someone else's model."""
    found = checkpoints.run_checkpoints(directory)
    if not found:
        raise ValueError(f"nothing to resume in {directory}/: no epoch_<n>.ckpt or interrupted.ckpt; "
                         "start without --resume")
    newest = found[-1]
    saved_hp, run = checkpoints.load_hparams(newest)
    differences = run_differences(saved_hp, run, given, data, split)
    if differences:
        listed = ", ".join(describe_run_checkpoint(path) for path in reversed(found[-4:]))
        raise ValueError(f"--resume would continue {newest}, the newest run checkpoint in {directory}/, but that run "
                         f"does not match what you asked ({'; '.join(differences)}); run checkpoints there, newest "
                         f"first: {listed}{' ...' if len(found) > 4 else ''}. Repeat that run's --data and options, "
                         "or train a new run with --checkpoint-dir <another folder>")
    if not isinstance(run.get("epoch"), int):
        raise ValueError(f"{newest} records no finished epoch count, so it cannot be resumed; "
                         f"start from it with --init {newest} instead")
    return newest, saved_hp, run


def data_options(data, split):
    """The --data and --split options that name this data, for commands printed for users to copy
    (empty for the defaults)."""
    options = "" if data == datasets.DEFAULT_DATA else f" --data {shlex.quote(data)}"
    return options + ("" if split == "train" else f" --split {shlex.quote(split)}")


def folder_option(checkpoint_dir):
    """The --checkpoint-dir option that names this run's folder, for printed commands (empty for
    the default folder)."""
    return "" if checkpoint_dir == checkpoints.DEFAULT_DIR else f" --checkpoint-dir {shlex.quote(checkpoint_dir)}"


def run_options(checkpoint_dir, data, split):
    """folder_option, then data_options."""
    return folder_option(checkpoint_dir) + data_options(data, split)


def check_no_run(directory):
    """A new run must not overwrite another run's checkpoints: refuse a folder that holds one."""
    found = checkpoints.run_checkpoints(directory)
    if found:
        raise ValueError(f"{directory}/ already holds a training run ({len(found)} run checkpoints, the newest "
                         f"{describe_run_checkpoint(found[-1])}); continue it with --resume, or train a new run "
                         "with --checkpoint-dir <another folder> (or move those files away)")
