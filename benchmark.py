"""Speed of training and generation, one JSON object per line.

    python benchmark.py [--quick] [--only train,random,generate,paper,models,hf,stats,quickstart] [--batch-songs 1,16,32] [--cells rnn,lstm,gru]

- train: training rows/s (RNN, CD-k, gradients and the update included) on the default data
  at the original's model size (780 visible, 50 hidden, 100 recurrent, CD-15), for several
  --batch-songs and each --cells, and the cost after a fixed number of epochs.
- random: millions of uniform random numbers per second, TF's own and this project's, and the
  CD-15 training rows/s that each could feed at most.
- generate: RBM steps/s of generation (k = 25) for 1 song and for a batch of songs.
- paper: the 2012 paper's preset (88 keys, 1 frame per RBM, 150 hidden): seconds per
  training epoch on Nottingham, and the time of evaluating JSB test (AIS for the shipped RNN-RBM,
  exact for an RNN-NADE), when ../shared/data/benchmarks is there.
- models: every --models and --cells at both presets (the original's on the default data, the
  paper's on JSB train), with reproduce.py's 8 lanes and Adam: training rows/s and seconds per
  epoch, generation steps/s of one song, and each one's epoch time over that of the rnn-rbm and
  of the rnn cell at the same preset. All models and cells of a preset train side by side, an
  epoch each in turn, and the figures are medians, so their ratios are not the machine's drift.
  --baseline PATH/rnn_rbm.py adds that file's training graphs (an earlier checkout of this
  project; the modules beside it that differ from this one's, NADE.py say, come with it) to
  the turns, for a before/after ratio.
- hf: --optimizer hf on an RNN-NADE at the paper preset on JSB train: seconds per HF update (one
  epoch of rnn_rbm_train.py), its CG iterations, and its gradient work in epochs (the gradient
  batch's rows, plus the curvature batch's rows for each Gauss-Newton product, over an epoch's
  rows), so seconds per epoch-equivalent of gradient work; beside an Adam epoch of the same
  model, the two in turns.
- stats: seconds of `music_stats.py` on 20 songs of 300 rows from pretrained.ckpt against the
  default data (its process start and MIDI reading included).
- quickstart: what a user runs first, side by side in turns, medians: sampling 3 songs of 300
  steps, one draw per step, from pretrained_nade.ckpt and from pretrained.ckpt (seconds of the
  session runs, and with the graph's building and the weights' loading); the Quick start's
  command against `rnn_rbm_generate.py parameter_checkpoints/pretrained.ckpt`, whole processes;
  and the peak resident memory of `rnn_rbm_train.py 2 --batch-songs 8 --optimizer adam` of an
  RNN-NADE at the original preset on the default data, and of --baseline's folder's scripts.
Each line also gives the peak resident memory of the process so far.
"""
import importlib.util
import itertools
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

import checkpoints
import cli
import config
import datasets
import evaluation
import RBM
import rnn_rbm
import training
from tf1 import tf

ORIGINAL_STEPS_PER_S = 1 / 0.55e-3   # the original code: 0.55 ms per RBM step, one song at a time (issue 6)
UNIFORMS_PER_ROW = 15 * (780 + 50)   # CD-15 at the original's size draws this many uniforms per row
HERE = os.path.dirname(os.path.abspath(__file__))
BENCHMARKS = os.path.join(HERE, "..", "shared", "data", "benchmarks")


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, for a smoke test")
    parser.add_argument("--only", default="train,random,generate,paper,models,hf,stats,quickstart",
                        help="comma-separated parts to run (default: all)")
    parser.add_argument("--models", default=",".join(config.MODELS), help="models (--model) of the models part (default: %(default)s)")
    parser.add_argument("--data", default=datasets.DEFAULT_DATA, help="MIDI folder for the train part (default: %(default)s)")
    parser.add_argument("--batch-songs", default="1,8,32,64", help="lane counts to time training with (default: %(default)s)")
    parser.add_argument("--cells", default="rnn,lstm,gru", help="recurrences (--cell) to time training with (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs for the fixed-epoch cost figure (default: %(default)s)")
    parser.add_argument("--baseline", help="an earlier rnn_rbm.py whose training graphs the models part times beside this "
                                           "one's, and whose folder's training memory the quickstart part measures")
    parser.add_argument("--rounds", type=int, default=5, help="turns of the quickstart part's timings (default: %(default)s)")
    return parser


def peak_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def plain(value):
    """A NumPy scalar or array as the Python number or list that JSON can hold."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def emit(**record):
    record.update(peak_rss_mb=peak_mb(), machine=f"{platform.machine()} {os.cpu_count()} cores")
    print(json.dumps(record, default=plain), flush=True)


def warm_training_session(song_rows, hp, module=rnn_rbm):
    """(session, model): the training graph of hp that `module` (rnn_rbm or an earlier version of
    it) builds, initialised, after one untimed epoch in which XLA compiles for these shapes."""
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(hp.seed)
        model = module.build_training_graph(hp, training.gibbs_blocks(hp), training.lane_count(hp, song_rows))
        sess = tf.Session(graph=graph, config=module.session_config(model.blocks, training.CORES))
        sess.run(tf.global_variables_initializer())
        training.train_epoch(sess, model, song_rows, hp, 0)
    return sess, model


def train_throughput(song_rows, hp, seconds, epochs=0):
    """(rows/s of whole training epochs, over at least `seconds`; cost after `epochs` epochs or None).

    Times training.train_epoch itself: lane packing, feeding, the RNN, CD-k, the gradients
    and the update, after one untimed epoch in which XLA compiles for these shapes.
    """
    sess, model = warm_training_session(song_rows, hp)
    with sess.graph.as_default(), sess:
        timed, start = 0, time.time()
        while timed == 0 or time.time() - start < seconds:
            timed += 1
            training.train_epoch(sess, model, song_rows, hp, timed)
        rate = timed * sum(len(r) for r in song_rows) / (time.time() - start)
        cost = None
        if epochs:
            sess.run(tf.global_variables_initializer())
            for epoch in range(1, epochs + 1):
                cost = training.train_epoch(sess, model, song_rows, hp, epoch)
        return rate, cost


def epochs_side_by_side(song_rows, runs, seconds):
    """{key: median seconds of a training epoch} of the training graphs of `runs`, {key: (hp, the
    rnn_rbm module that builds it)}: each in its own session, after one untimed epoch, they train
    an epoch each in turn (the first of a turn rotating), for at least 3 turns and until the
    turns have taken `seconds` per run in all, so that a machine whose speed drifts slows all of
    them alike, fast and slow."""
    sessions = {key: (*warm_training_session(song_rows, hp, module), hp) for key, (hp, module) in runs.items()}
    times, keys = {key: [] for key in runs}, list(runs)
    while len(times[keys[0]]) < 3 or sum(map(sum, times.values())) < seconds * len(keys):
        turn = len(times[keys[0]])
        for key in keys[turn % len(keys):] + keys[:turn % len(keys)]:
            sess, model, hp = sessions[key]
            start = time.time()
            training.train_epoch(sess, model, song_rows, hp, turn + 1)
            times[key].append(time.time() - start)
    for sess, _, _ in sessions.values():
        sess.close()
    return {key: float(np.median(t)) for key, t in times.items()}


def load_module(path, name):
    """The Python file at `path` as a module called `name`. The modules of this project that it
    imports are the files beside it where those differ from this project's (an earlier
    checkout's NADE.py, say), loaded for it alone; this process's own stay as they are."""
    folder, here = pathlib.Path(path).resolve().parent, pathlib.Path(HERE)
    differ = [file.stem for file in folder.glob("*.py")
              if (here / file.name).exists() and file.read_bytes() != (here / file.name).read_bytes()]
    saved = {module: sys.modules.pop(module) for module in differ if module in sys.modules}
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
        for sibling in differ:
            sys.modules.pop(sibling, None)
        sys.modules.update(saved)
    return module


def generate_throughput(hp, n_songs, n_steps, fused, blocks):
    graph = tf.Graph()
    with graph.as_default():
        gen = rnn_rbm.build_generation_graph(hp, fused, blocks)
        with tf.Session(graph=graph, config=rnn_rbm.session_config(blocks, training.CORES)) as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(gen.music, {gen.n_songs: n_songs, gen.n_steps: 5})   # warm-up
            start = time.time()
            sess.run(gen.music, {gen.n_songs: n_songs, gen.n_steps: n_steps})
            seconds = time.time() - start
    return seconds


QUICK_START = os.path.join("parameter_checkpoints", "pretrained_nade_sharpened.ckpt")   # README's first command
SHIPPED = {"rnn-nade": os.path.join("parameter_checkpoints", "pretrained_nade.ckpt"),
           "rnn-rbm": os.path.join("parameter_checkpoints", "pretrained.ckpt")}


def sampling_seconds(path, n_songs, n_steps, best_of):
    """(seconds of sampling n_songs songs of n_steps rows from the checkpoint at `path`, seconds
    with the graph's building and the weights' loading too), as rnn_rbm_generate.py samples them."""
    start = time.time()
    hp = checkpoints.load_hparams(path)[0].replace(best_of=best_of)
    graph = tf.Graph()
    with graph.as_default():
        fused, blocks = rnn_rbm.sampling_layout(n_songs, training.CORES, hp)
        gen = rnn_rbm.build_generation_graph(hp, fused, blocks)
        with tf.Session(graph=graph, config=rnn_rbm.session_config(blocks, training.CORES)) as sess:
            checkpoints.restore(sess, checkpoints.make_saver(gen.params), path)
            sampling = time.time()
            sess.run(gen.music, {gen.n_songs: n_songs, gen.n_steps: n_steps, gen.seed: [1, 0]})
            end = time.time()
    return end - sampling, end - start


def in_turns(runs, rounds):
    """{key: median of the figures of runs[key]()}: each run once per turn, the first of a turn
    rotating, so that a machine whose speed drifts slows them alike. A run returns a tuple."""
    keys, figures = list(runs), {key: [] for key in runs}
    for turn in range(rounds):
        for key in keys[turn % len(keys):] + keys[:turn % len(keys)]:
            figures[key].append(runs[key]())
    return {key: tuple(float(np.median(column)) for column in zip(*values)) for key, values in figures.items()}


def process_seconds(*command):
    """(wall seconds,) of a command of this project's scripts run as a user runs it, from its folder."""
    with tempfile.TemporaryDirectory() as out:
        start = time.time()
        subprocess.run([sys.executable, *command, "--out", out, "--quiet"], cwd=HERE, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return (time.time() - start,)


def training_peak_mb(folder, data, cache, epochs):
    """Peak resident memory (MB) of `rnn_rbm_train.py <epochs> --batch-songs 8 --optimizer adam` of
    an RNN-NADE at the original preset, run by the scripts in `folder` on `data`."""
    with tempfile.TemporaryDirectory() as run:
        common = ["--data", data, "--cache-dir", cache, "--checkpoint-dir", run, "--quiet"]
        subprocess.run([sys.executable, "weight_initializations.py", "--model", "rnn-nade", "--pretrain-epochs", "0",
                        *common], cwd=folder, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        child = subprocess.Popen([sys.executable, "rnn_rbm_train.py", str(epochs), "--batch-songs", "8", "--optimizer",
                                  "adam", *common], cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise RuntimeError(f"rnn_rbm_train.py in {folder} exited {child.returncode}")
    return round(usage.ru_maxrss / 1024, 1)


def random_throughput(seconds):
    """Millions of uniforms per second from TF's stateless float uniforms and from RBM.uniform16
    (fused), drawn 30 times per run at one training chunk's size (1,600 x 780)."""
    rates = {}
    for name in ("tf_stateless_uniform", "rbm_uniform16_fused"):
        graph = tf.Graph()
        with graph.as_default():
            seed = tf.placeholder(tf.int64, [2])
            like = tf.zeros([1600, 780])

            def draw(i, total):
                step_seed = RBM.offset_seed(seed, i)
                if name == "tf_stateless_uniform":
                    u = tf.random.stateless_uniform([1600, 780], step_seed)
                else:
                    with RBM._fused():
                        u = RBM.uniform16(like, step_seed)
                return i + 1, total + tf.reduce_sum(u[:, :1])

            _, out = tf.while_loop(lambda i, total: i < 30, draw, [tf.constant(0), tf.constant(0.0)])
            with tf.Session(graph=graph) as sess:
                sess.run(out, {seed: [0, 0]})
                runs, start = 0, time.time()
                while runs == 0 or time.time() - start < seconds:
                    runs += 1
                    sess.run(out, {seed: [runs, 0]})
                rates[name] = runs * 30 * 1600 * 780 / (time.time() - start) / 1e6
    return rates


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    parts = set(args.only.split(","))
    hp = config.HParams()
    seconds = 1 if args.quick else 15

    if "train" in parts:
        datasets.ensure_default_data(args.data)
        song_rows = datasets.songs_to_rows(datasets.load_songs(args.data, hp), hp)
        for cell, lanes in itertools.product(args.cells.split(","), [int(b) for b in args.batch_songs.split(",")]):
            run_hp = hp.replace(batch_songs=lanes, cell=cell).validate()
            rate, cost = train_throughput(song_rows, run_hp, seconds, 0 if args.quick else args.epochs)
            emit(part="train", model="original size 780/50/100, CD-15", cell=cell, batch_songs=lanes,
                 rows_per_s=round(rate), seconds_per_epoch=round(sum(len(r) for r in song_rows) / rate, 2),
                 steps_16th_per_s=round(rate * hp.steps_per_rbm), epoch_rows=sum(len(r) for r in song_rows),
                 cost_after_epochs=None if cost is None else round(cost, 4), epochs=0 if args.quick else args.epochs)

    if "random" in parts:
        for name, rate in random_throughput(seconds).items():
            emit(part="random", generator=name, million_uniforms_per_s=round(rate),
                 cd15_rows_per_s_limit=round(rate * 1e6 / UNIFORMS_PER_ROW))

    if "generate" in parts:
        # --quick: one unfused and one fused layout, a fifth of the steps
        layouts = ((1, 60), (64, 20)) if args.quick else ((1, 300), (3, 300), (64, 100), (1024, 40), (2048, 20))
        for n_songs, steps in layouts:
            fused, blocks = rnn_rbm.sampling_layout(n_songs, training.CORES)
            took = generate_throughput(hp, n_songs, steps, fused, blocks)
            emit(part="generate", k=hp.k_generate, songs=n_songs, steps=steps, xla_fused=fused, seconds=round(took, 3),
                 ms_per_step=round(1000 * took / steps, 3), song_steps_per_s=round(n_songs * steps / took),
                 vs_original=round(n_songs * steps / took / ORIGINAL_STEPS_PER_S, 1))

    if "paper" in parts:
        path = os.path.join(BENCHMARKS, "Nottingham.pickle")
        if not os.path.exists(path):
            emit(part="paper", skipped=f"{path} not found")
        else:
            paper = config.preset("paper", batch_songs=16)
            song_rows = datasets.songs_to_rows(datasets.load_data(path, paper, "train"), paper)
            song_rows = song_rows[:64] if args.quick else song_rows     # --quick: checks the part runs, no more
            rate, _ = train_throughput(song_rows, paper, seconds)
            frames = sum(len(r) for r in song_rows)
            emit(part="paper", dataset="Nottingham train", songs=len(song_rows), frames=frames, batch_songs=paper.batch_songs,
                 rows_per_s=round(rate), seconds_per_epoch=round(frames / rate, 1))
        jsb, shipped = os.path.join(BENCHMARKS, "JSB Chorales.pickle"), os.path.join(HERE, checkpoints.SHIPPED_BENCHMARKS, "jsb_paper.ckpt")
        if not os.path.exists(jsb) or not checkpoints.exists(shipped):
            emit(part="paper", skipped=f"{jsb} or {shipped} not found")
        else:
            # --quick: the first 2 songs with a short anneal, which checks the part runs but measures nothing
            eval_args = evaluation.Settings(max_songs=2, chains=4, betas=20) if args.quick else evaluation.Settings()
            start = time.time()
            result = evaluation.evaluate_checkpoint(shipped, jsb, "test", eval_args)
            emit(part="paper", dataset="JSB Chorales test", evaluation="AIS", chains=eval_args.chains,
                 temperatures=eval_args.betas, songs=eval_args.max_songs or "all", frames=result.frames,
                 seconds=round(time.time() - start, 1), ll_per_frame=round(result.ll, 3), acc=round(result.acc, 4))
        nade = os.path.join(HERE, checkpoints.SHIPPED_BENCHMARKS, "jsb_nade.ckpt")
        if os.path.exists(jsb):
            with tempfile.TemporaryDirectory() as folder:
                if not checkpoints.exists(nade):      # an untrained one costs the same to evaluate
                    nade = fresh_checkpoint(config.preset("paper", model="rnn-nade"), os.path.join(folder, "nade.ckpt"))
                eval_args = evaluation.Settings(max_songs=2, chains=4) if args.quick else evaluation.Settings()
                start = time.time()
                result = evaluation.evaluate_checkpoint(nade, jsb, "test", eval_args)
                emit(part="paper", dataset="JSB Chorales test", evaluation="exact", model="rnn-nade",
                     checkpoint=os.path.relpath(nade, HERE) if nade.startswith(HERE) else "untrained",
                     samples_for_acc=eval_args.chains, songs=eval_args.max_songs or "all", frames=result.frames,
                     seconds=round(time.time() - start, 1), ll_per_frame=round(result.ll, 3), acc=round(result.acc, 4))

    if "models" in parts:
        jsb = os.path.join(BENCHMARKS, "JSB Chorales.pickle")
        presets = {"original": (hp, lambda: datasets.load_songs(args.data, hp))}
        if os.path.exists(jsb):
            paper = config.preset("paper")
            presets["paper"] = (paper, lambda: datasets.load_data(jsb, paper, "train"))
        else:
            emit(part="models", skipped=f"paper preset: {jsb} not found")
        datasets.ensure_default_data(args.data)
        baseline = load_module(args.baseline, "baseline_rnn_rbm") if args.baseline else None
        for name, (base, load) in presets.items():
            song_rows = datasets.songs_to_rows(load(), base)
            song_rows = song_rows[:16] if args.quick else song_rows
            frames = sum(len(r) for r in song_rows)
            hps = {(model, cell): base.replace(model=model, cell=cell, batch_songs=8, optimizer="adam").validate()
                   for model in args.models.split(",") for cell in args.cells.split(",")
                   if model != "rtrbm" or cell == "rnn"}                  # the RTRBM's recurrence is its own
            runs = {("this", *key): (run_hp, rnn_rbm) for key, run_hp in hps.items()}
            if baseline:
                runs.update({("baseline", *key): (run_hp, baseline) for key, run_hp in hps.items()})
            medians = epochs_side_by_side(song_rows, runs, seconds)        # every model and cell in the same turns
            steps = 10 if args.quick else 100
            for (model, cell), run_hp in hps.items():
                took = generate_throughput(run_hp, 1, steps, *rnn_rbm.sampling_layout(1, training.CORES, run_hp))
                ratio = lambda who, other: (round(medians[who, model, cell] / medians[(who, *other)], 2)
                                            if (who, *other) in medians else None)
                before = {} if not baseline else dict(
                    baseline_seconds_per_epoch=round(medians["baseline", model, cell], 3),
                    faster_than_baseline=round(medians["baseline", model, cell] / medians["this", model, cell], 2),
                    baseline_epoch_time_vs_rnn_rbm=ratio("baseline", ("rnn-rbm", cell)),
                    baseline_epoch_time_vs_rnn_cell=ratio("baseline", (model, "rnn")))
                emit(part="models", preset=name, model=model, cell=cell, batch_songs=8,
                     rows_per_s=round(frames / medians["this", model, cell]),
                     seconds_per_epoch=round(medians["this", model, cell], 3), epoch_rows=frames,
                     generate_steps_per_s=round(steps / took, 1), epoch_time_vs_rnn_rbm=ratio("this", ("rnn-rbm", cell)),
                     epoch_time_vs_rnn_cell=ratio("this", (model, "rnn")), **before)

    if "hf" in parts:
        jsb = os.path.join(BENCHMARKS, "JSB Chorales.pickle")
        if not os.path.exists(jsb):
            emit(part="hf", skipped=f"{jsb} not found")
        else:
            paper = config.preset("paper", model="rnn-nade")
            song_rows = datasets.songs_to_rows(datasets.load_data(jsb, paper, "train"), paper)
            song_rows = song_rows[:16] if args.quick else song_rows
            frames = sum(len(r) for r in song_rows)
            runs = {"hf": paper.replace(optimizer="hf"), "adam": paper.replace(optimizer="adam", batch_songs=8)}
            sessions = {key: warm_training_session(song_rows, run_hp) for key, run_hp in runs.items()}
            times, stats = {key: [] for key in runs}, []
            for turn in range(1 if args.quick else 5):
                for key, run_hp in runs.items():
                    sess, model = sessions[key]
                    start = time.time()
                    training.train_epoch(sess, model, song_rows, run_hp, turn + 1, report=stats.append)
                    times[key].append(time.time() - start)
            for sess, _ in sessions.values():
                sess.close()
            update, adam = float(np.median(times["hf"])), float(np.median(times["adam"]))
            work = [(s.gradient_songs + s.products * s.curvature_songs) / len(song_rows) for s in stats]
            emit(part="hf", preset="paper", model="rnn-nade", data="JSB train", epoch_rows=frames, updates=len(stats),
                 seconds_per_hf_update=round(update, 2),
                 cg_iterations=[s.cg_iterations for s in stats], gradient_work_epochs=round(float(np.median(work)), 1),
                 seconds_per_epoch_of_gradient_work=round(update / float(np.median(work)), 2),
                 adam_seconds_per_epoch=round(adam, 2), hf_update_vs_adam_epoch=round(update / adam, 2))

    if "quickstart" in parts:
        rounds = 1 if args.quick else args.rounds
        songs, steps = (1, 20) if args.quick else (3, 300)
        medians = in_turns({model: lambda path=path: sampling_seconds(path, songs, steps, 1)
                            for model, path in SHIPPED.items()}, rounds)
        for model, path in SHIPPED.items():
            emit(part="quickstart", what="sampling", checkpoint=path, songs=songs, steps=steps, best_of=1, rounds=rounds,
                 seconds=round(medians[model][0], 3), seconds_with_graph_and_weights=round(medians[model][1], 3),
                 vs_rnn_rbm=round(medians[model][0] / medians["rnn-rbm"][0], 2))
        length = ["--num-songs", "1", "--length", "20"] if args.quick else []
        commands = {"quick start": [QUICK_START, *length], "pretrained.ckpt": [SHIPPED["rnn-rbm"], *length]}
        medians = in_turns({key: lambda c=c: process_seconds("rnn_rbm_generate.py", *c) for key, c in commands.items()},
                           rounds)
        for key, command in commands.items():
            emit(part="quickstart", what="whole process", command=" ".join(["python rnn_rbm_generate.py", *command]),
                 rounds=rounds, seconds=round(medians[key][0], 2),
                 vs_pretrained_ckpt=round(medians[key][0] / medians["pretrained.ckpt"][0], 2))
        datasets.ensure_default_data(args.data)
        folders = {"this": HERE, **({"baseline": os.path.dirname(os.path.abspath(args.baseline))} if args.baseline else {})}
        epochs = 1 if args.quick else 2
        for who, folder in folders.items():
            emit(part="quickstart", what="training memory", folder=folder, model="rnn-nade", epochs=epochs,
                 peak_rss_mb_of_training=training_peak_mb(folder, os.path.abspath(args.data),
                                                          os.path.abspath(datasets.DEFAULT_CACHE), epochs))

    if "stats" in parts:
        datasets.ensure_default_data(args.data)
        songs = 2 if args.quick else 20
        with tempfile.TemporaryDirectory() as folder:
            here = lambda *command: subprocess.run([sys.executable, *command], cwd=HERE, check=True,
                                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            here("rnn_rbm_generate.py", os.path.join("parameter_checkpoints", "pretrained.ckpt"), "--num-songs",
                 str(songs), "--length", "300", "--seed", "1", "--out", folder, "--no-png", "--quiet")
            start = time.time()
            here("music_stats.py", folder, "--real", args.data, "--quiet")
            emit(part="stats", songs=songs, rows=300, real=args.data, seconds=round(time.time() - start, 1))
    return 0


def fresh_checkpoint(hp, path):
    """Write a checkpoint of hp's model with its initial weights to `path`."""
    with tf.Graph().as_default():
        params = rnn_rbm.create_params(hp)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            return checkpoints.save(sess, checkpoints.make_saver(params), path, hp)


if __name__ == "__main__":
    sys.exit(cli.run(main))
