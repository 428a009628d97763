"""How well each model harmonizes real melodies: the top voice of real chorales is given, and
the voices below it are compared with the composer's.

    python harmonize_study.py "$B/JSB Chorales.pickle" CKPT [CKPT ...] [--split test] [--out runs/harmonize/jsb]
    python harmonize_study.py Pop_Music_Midi parameter_checkpoints/pretrained_nade_sharpened.ckpt --draws 4

The songs are a split of a benchmark pickle (its train split gives the Bernoulli baseline), or
the default data's held-out chorales (datasets.HELD_OUT; its other chorales give the baseline).
For each song, the top note of each step is the melody (harmonize.melody_from_roll), and each
checkpoint harmonizes it `--draws` times. One row per source:

- ACC below: frame accuracy (Bay et al. 2009, as rnn_rbm_evaluate.py's) of the notes below
  each step's top note, against the real song's below its top note;
- overlap: music_stats' mean overlap of the songs against the real ones, each once (the same features,
  windows and densities; the folders are written under --out, for `music_stats.py`); for the
  real songs, its ceiling: one random half of them (each once) against the other;
- parallels: parallel fifths and octaves between any two voices per 100 steps
  (harmonize.parallels).

Baselines in the same table: the real songs themselves; the independent-Bernoulli model of
the training songs clamped the same way; each model's unconditional samples (no melody), as
long as the songs.
"""
import logging
import os
import re

import numpy as np

import checkpoints
import cli
import datasets
import generation
import harmonize
import midi_manipulation
import music_features

log = logging.getLogger(__name__)


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("data", help="a benchmark pickle, or the default data folder (its held-out chorales)")
    parser.add_argument("checkpoints", nargs="+", help="checkpoints to harmonize with, all of one piano-roll layout")
    parser.add_argument("--split", default="test", help="the pickle's split to harmonize (default: %(default)s)")
    parser.add_argument("--draws", type=int, default=1, help="harmonizations of each melody per model (default: 1)")
    parser.add_argument("--particles", type=int, default=None,
                        help="an RNN-NADE's particles per row (default: each checkpoint's, config.py's 32)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the draws (default: %(default)s)")
    parser.add_argument("--out", default="runs/harmonize", help="folder for the MIDI files (default: %(default)s)")
    return parser


def real_songs(data, split, hp):
    """(songs to harmonize, training songs), piano rolls [steps, frame_size] in hp's layout."""
    if datasets.is_pickle_dataset(data):
        return (datasets.load_pickle_rolls(data, split, hp), datasets.load_pickle_rolls(data, "train", hp))
    held_out = datasets.held_out_paths(data)
    if not held_out:
        raise ValueError(f"{data} has no held-out chorales; pass a benchmark pickle or the default data folder")
    songs = [datasets.load_song(path, hp) for path in held_out]
    return songs, [song.roll for song in datasets.load_songs(data, hp)]


def below_top(play):
    """The play bits strictly below each step's top note: [steps, keys]."""
    top = np.where(play.any(1), play.shape[1] - 1 - np.argmax(play[:, ::-1], 1), -1)
    return play & (np.arange(play.shape[1])[None, :] < top[:, None])


def frame_accuracy(generated, real, n_notes):
    """Bay et al.'s accuracy, TP / (TP + FP + FN) over every step, of the notes below the top one."""
    tp = fp = fn = 0
    for g, r in zip(generated, real):
        g, r = below_top(g[:, :n_notes] != 0), below_top(r[:, :n_notes] != 0)
        tp, fp, fn = tp + (g & r).sum(), fp + (g & ~r).sum(), fn + (~g & r).sum()
    return tp / max(tp + fp + fn, 1)


def parallels_per_100(rolls, n_notes):
    steps = sum(len(roll) for roll in rolls)
    return 100.0 * sum(harmonize.parallels(roll[:, :n_notes]) for roll in rolls) / steps


def to_notes(roll, hp):
    play = np.zeros((len(roll), 128), bool)
    strike = np.zeros((len(roll), 128), bool)
    play[:, hp.lowest_note:hp.highest_note + 1] = roll[:, :hp.n_notes] != 0
    if hp.articulation:
        strike[:, hp.lowest_note:hp.highest_note + 1] = roll[:, hp.n_notes:] != 0
    return music_features.roll_to_notes(play, strike), len(roll)


def overlap(generated, real, hp):
    """music_stats.py's mean overlap of `generated` against `real` (rolls), in its windows."""
    real_notes = [to_notes(roll, hp) for roll in real]
    bars = music_features.median_bars(real_notes)
    return music_features.compare(music_features.windowed_features(real_notes, bars),
                                  music_features.windowed_features([to_notes(r, hp) for r in generated], bars))


def ceiling(real, hp, rng):
    """music_stats.py's ceiling: one random half of the real songs against the other half (NaN
    for fewer than 8 songs, whose halves are too small for densities of their distances)."""
    if len(real) < 8:
        return float("nan")
    half = rng.permutation(len(real))
    return overlap([real[i] for i in half[len(real) // 2:]], [real[i] for i in half[:len(real) // 2]], hp).mean_overlap


def write_folder(rolls, folder, hp, names):
    os.makedirs(folder, exist_ok=True)
    for roll, name in zip(rolls, names):
        midi_manipulation.piano_roll_to_midi(roll, os.path.join(folder, name + ".mid"), hp.lowest_note,
                                             hp.articulation, hp.tickscale, hp.velocity, hp.bpm)


def clamps_of(songs, hp, draws):
    """(mask, values) [rows, songs * draws, nv] of every song's top line, padded free; and the melodies."""
    melodies = [harmonize.melody_from_roll(song, hp) for song in songs]
    per_song = [harmonize.clamp_rows(m, hp) for m in melodies]
    rows = max(len(mask) for mask, _ in per_song)
    pad = lambda a: np.vstack([a, np.zeros((rows - len(a), a.shape[1]), np.float32)])
    stack = lambda i: np.stack([pad(c[i]) for c in per_song for _ in range(draws)], axis=1)
    return (stack(0), stack(1)), melodies


def bernoulli_harmonizations(train, clamp, lengths, hp, rng):
    """The independent-Bernoulli model of the training rows, each unit on with its frequency there,
    clamped: [songs * draws] rolls."""
    rows = np.vstack([midi_manipulation.piano_roll_to_rows(roll, hp.steps_per_rbm) for roll in train])
    p = rows.mean(0)
    mask, values = clamp
    drawn = (rng.random(mask.shape) < p).astype(np.float32)
    music = np.where(mask > 0, values, drawn).transpose(1, 0, 2)                         # [songs, rows, nv]
    return [finish(song, n, hp) for song, n in zip(music, lengths)]


def finish(rows, n_steps, hp):
    """A generated song's rows as the roll that is written: [n_steps, frame_size]."""
    roll = midi_manipulation.rows_to_piano_roll(rows, hp.frame_size)[:n_steps]
    return midi_manipulation.canonical_piano_roll(roll, hp.articulation)


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    if args.draws < 1:
        raise ValueError("--draws must be at least 1")
    resolved = [checkpoints.resolve(c) for c in args.checkpoints]
    for c in resolved:
        checkpoints.check_exists(c, "pass checkpoints written by rnn_rbm_train.py")
    hps = [checkpoints.load_hparams(c)[0] for c in resolved]
    if args.particles is not None:
        hps = [h.replace(particles=args.particles).validate() for h in hps]
    hp = hps[0]
    if any(h.frame_size != hp.frame_size or h.steps_per_rbm != hp.steps_per_rbm or h.lowest_note != hp.lowest_note
           for h in hps):
        raise ValueError("the checkpoints have different piano-roll layouts; study one preset at a time")
    songs, train = real_songs(args.data, args.split, hp)
    clamp, melodies = clamps_of(songs, hp, args.draws)
    lengths = [len(m.pitch) for m in melodies for _ in range(args.draws)]
    real = [song for song in songs for _ in range(args.draws)]
    names = [f"{i:03d}_{d}" for i in range(len(songs)) for d in range(args.draws)]
    rng = np.random.default_rng(args.seed)

    table = {"real songs": real,
             "independent Bernoulli, clamped": bernoulli_harmonizations(train, clamp, lengths, hp, rng)}
    names_alone = len({os.path.basename(p) for p in resolved}) == len(resolved)
    for path, model_hp in zip(resolved, hps):
        label = os.path.basename(path) if names_alone else path
        n = len(lengths)
        harmonized = generation.generate(path, model_hp, n, len(clamp[0]), seed=args.seed, clamp=clamp,
                                         progress=not args.quiet)
        table[f"{label}, harmonized"] = [finish(rows, k, hp) for rows, k in zip(harmonized, lengths)]
        free = generation.generate(path, model_hp, n, len(clamp[0]), seed=args.seed, progress=not args.quiet)
        table[f"{label}, no melody"] = [finish(rows, k, hp) for rows, k in zip(free, lengths)]

    print(f"{len(songs)} songs of {args.data}{' ' + args.split if datasets.is_pickle_dataset(args.data) else ''}, "
          f"{args.draws} draw(s) each, seed {args.seed}")
    width = max(58, *map(len, table))
    print(f"{'source':{width}} {'ACC below':>10} {'overlap':>8} {'parallels/100':>14}")
    for label, rolls in table.items():
        folder = os.path.join(args.out, re.sub(r"[^\w.-]+", "_", label.replace(", ", "_")))
        write_folder(rolls, folder, hp, names)
        acc = frame_accuracy(rolls, real, hp.n_notes)
        similar = ceiling(songs, hp, rng) if label == "real songs" else overlap(rolls, songs, hp).mean_overlap
        print(f"{label:{width}} {100 * acc:9.1f}% {similar:8.3f} "
              f"{parallels_per_100(rolls, hp.n_notes):14.2f}")
    log.info("MIDI files under %s; e.g. python music_stats.py %s --real %s", args.out,
             os.path.join(args.out, "<source>"), os.path.join(args.out, "real_songs"))
    return table


if __name__ == "__main__":
    cli.run(main)
