"""Generate songs from a trained RNN-RBM checkpoint: MIDI files, piano-roll pictures and, with --wav, audio.

    python rnn_rbm_generate.py parameter_checkpoints/pretrained_nade_sharpened.ckpt [--num-songs 3] [--length 300]
    python rnn_rbm_generate.py latest --primer bach_bwv10_7 --keep-primer --length 16bars --wav --best-of 4
    python rnn_rbm_generate.py parameter_checkpoints/pretrained_nade_sharpened.ckpt --harmonize melody.mid

The checkpoint may be a path, `latest` (the newest checkpoint in parameter_checkpoints/) or
a training-run folder (its newest checkpoint). The graph is rebuilt from the checkpoint's
hparams.json, so nothing else is needed. Songs go to music_outputs/<n>_<primer or
'unprimed'>.mid, each with a .png piano roll beside it; existing files are never overwritten.
--best-of K draws K candidates of each row and keeps the one the model finds likeliest (the
checkpoint's hparams.json may store it, as pretrained_nade_sharpened.ckpt's does: 4).
--harmonize keeps a melody as each song's top voice, note for note, with the model's voices
below it, for as long as the melody lasts (harmonize.py says how each model holds it).
"""
import logging
import math
import os
import re
import time

import numpy as np
from tqdm import tqdm

import audio
import checkpoints
import cli
import config
import datasets
import generation
import harmonize
import midi_manipulation
import music_features
import plots

log = logging.getLogger(__name__)

def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("checkpoint",
                        help="a checkpoint (e.g. parameter_checkpoints/epoch_100.ckpt), 'latest', or a run folder")
    parser.add_argument("--num-songs", type=int, default=3, help="songs to generate, side by side (default: 3)")
    parser.add_argument("--length", default=None,
                        help="length of each song: RBM steps (e.g. 300; one step is steps_per_rbm 16th notes) "
                             "or bars of 4/4 (e.g. 16bars) (default: 300, or the melody's with --harmonize)")
    parser.add_argument("--harmonize", default=None, metavar="MELODY",
                        help="a MIDI file (or the name of a song in the --data folder) whose tune each song keeps "
                             "as its top voice, with the model's voices below; a file with chords gives its top "
                             "line. Where the tune rests, the voices may go on below its last note, or rest")
    parser.add_argument("--primer", default=None,
                        help="a MIDI file, the name of a song in the --data folder, or <dataset>.pickle[:split[:index]], "
                             "whose opening warms up the RNN")
    parser.add_argument("--prime-steps", type=int, default=100, help="RBM steps of the primer to use (default: 100)")
    parser.add_argument("--keep-primer", action="store_true",
                        help="start each output with the primer itself, to hear the continuation in context")
    parser.add_argument("--data", default=datasets.DEFAULT_DATA,
                        help="folder searched for a --primer given by name (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed; the same seed, checkpoint and options give identical files (default: random)")
    parser.add_argument("--out", default="music_outputs", help="folder for the generated files (default: %(default)s)")
    parser.add_argument("--wav", action="store_true", help="also render each song to WAV with FluidSynth")
    parser.add_argument("--soundfont", default=None, help="General MIDI .sf2 file for --wav (default: the system's)")
    parser.add_argument("--no-png", action="store_true", help="do not draw the piano-roll PNGs")
    parser.add_argument("--stats", action="store_true", help="print a line per song: notes per bar, polyphony, "
                        "key fit and bar repetition (music_stats.py compares whole sets)")
    config.add_hparam_arguments(parser, config.GENERATE)
    return parser


def parse_length(text, hp):
    """(RBM rows to generate, 16th-note steps to keep or None) from '300' or '16bars'."""
    match = re.fullmatch(r"\s*(\d+)\s*(bars?|b)?\s*", text)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"--length {text!r} is not a positive number of steps (300) or bars (16bars)")
    if not match.group(2):
        return int(match.group(1)), None
    sixteenths = int(match.group(1)) * plots.STEPS_PER_BAR
    return math.ceil(sixteenths / hp.steps_per_rbm), sixteenths


def find_primer(name, data, option="--primer"):
    """Path of the primer: `name` itself if it is a file, else a song of `data` with that name."""
    if os.path.isfile(name) or (option == "--primer" and PICKLE_PRIMER.fullmatch(name)):
        return name
    wanted = os.path.splitext(os.path.basename(name))[0].lower()
    datasets.ensure_default_data(data)          # the default chorales are built on first use, as for training
    matches = [p for p in datasets.find_midi_files(data) if os.path.splitext(os.path.basename(p))[0].lower() == wanted]
    if not matches:
        raise ValueError(f"{option} {name}: no such file, and no song of that name under {data}/; "
                         "pass a MIDI file or the name of a song in the --data folder")
    return matches[0]


PICKLE_PRIMER = re.compile(r"(?P<path>.+\.(?:pickle|pkl))(?::(?P<split>[^:]+))?(?::(?P<index>\d+))?")


def primer_roll(path, hp):
    """Piano roll of a primer: a MIDI file, or `<dataset>.pickle[:<split>[:<index>]]` (default test:0)."""
    match = PICKLE_PRIMER.fullmatch(path)
    if match:
        split, index = match.group("split") or "test", int(match.group("index") or 0)
        rolls = datasets.load_pickle_rolls(match.group("path"), split, hp)
        if index >= len(rolls):
            raise ValueError(f"--primer {path}: {match.group('path')} has no song {index} in split {split!r}")
        return rolls[index]
    try:
        return midi_manipulation.midi_to_piano_roll(path, hp.lowest_note, hp.highest_note, hp.articulation,
                                                    hp.max_song_steps)
    except midi_manipulation.MidiError as e:
        raise ValueError(f"--primer: {e}; pass a readable MIDI file") from None


def primer_rows(path, hp, prime_steps):
    """The first `prime_steps` RBM rows of a primer: [rows, n_visible]."""
    roll = primer_roll(path, hp)
    rows = midi_manipulation.piano_roll_to_rows(roll, hp.steps_per_rbm)[:prime_steps]
    if len(rows) == 0:
        raise ValueError(f"--primer {path} is shorter than one RBM step ({hp.steps_per_rbm} 16th notes); "
                         "use a longer primer")
    return rows.astype(np.float32)


def free_path(folder, n, label):
    """The first `<k>_<label>.mid` in `folder`, k >= n, that does not exist yet."""
    while os.path.exists(os.path.join(folder, f"{n}_{label}.mid")):
        n += 1
    return os.path.join(folder, f"{n}_{label}.mid"), n


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    start = time.time()
    checkpoint = checkpoints.resolve(args.checkpoint)
    checkpoints.check_exists(checkpoint, "pass a checkpoint written by rnn_rbm_train.py, 'latest', "
                                         "or parameter_checkpoints/pretrained_nade_sharpened.ckpt")
    saved_hp, _ = checkpoints.load_hparams(checkpoint)
    hp = config.hparams_from_args(args, base=saved_hp)
    if args.num_songs < 1 or args.prime_steps < 1:
        raise ValueError("--num-songs and --prime-steps must be at least 1")
    if args.harmonize and args.length:
        raise ValueError("--harmonize makes songs as long as the melody: leave out --length")
    length, keep_sixteenths = parse_length(args.length or "300", hp)
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**31)

    clamp, tune = None, None
    if args.harmonize:
        melody_path = find_primer(args.harmonize, args.data, "--harmonize")
        melody = harmonize.read_melody(melody_path, hp)
        log.info("%s", harmonize.describe(melody, melody_path))
        clamp, tune = harmonize.clamp_rows(melody, hp), harmonize.melody_roll(melody, hp)
        length, keep_sixteenths = len(clamp[0]), len(tune)

    primer, label = None, "unprimed"
    if args.primer:
        primer_path = find_primer(args.primer, args.data)
        primer = primer_rows(primer_path, hp, args.prime_steps)
        label = re.sub(r"[^\w.-]+", "_", os.path.splitext(os.path.basename(primer_path))[0].replace(".pickle", ""))

    if args.harmonize:
        label = "harmonized_" + re.sub(r"[^\w.-]+", "_", os.path.splitext(os.path.basename(melody_path))[0])
    music = generation.generate(checkpoint, hp, args.num_songs, length, primer, seed, progress=not args.quiet,
                                clamp=clamp)
    os.makedirs(args.out, exist_ok=True)
    written, n, wav_problem = [], 1, None
    for song in tqdm(music, desc="writing songs", unit="song", disable=args.quiet or len(music) < 2):
        roll = midi_manipulation.rows_to_piano_roll(song, hp.frame_size)[:keep_sixteenths]
        tune_roll = tune
        if args.keep_primer and primer is not None:
            before = midi_manipulation.rows_to_piano_roll(primer, hp.frame_size)
            roll = np.vstack([before, roll])
            tune_roll = None if tune is None else np.vstack([np.zeros_like(before), tune])
        roll = midi_manipulation.canonical_piano_roll(roll, hp.articulation)
        path, n = free_path(args.out, n, label)
        midi_manipulation.piano_roll_to_midi(roll, path, hp.lowest_note, hp.articulation, hp.tickscale,
                                             hp.velocity, hp.bpm)
        written.append(path)
        if not args.no_png:
            plots.save_piano_roll_png(roll, path[:-4] + ".png", hp.lowest_note, hp.articulation,
                                      title=f"{os.path.basename(path)} (seed {seed})", melody=tune_roll)
        if args.wav and wav_problem is None:
            try:
                audio.midi_to_wav(path, path[:-4] + ".wav", args.soundfont)
            except audio.AudioUnavailable as e:
                wav_problem = str(e)
                log.warning("no WAV files: %s. The MIDI files are written all the same.", e)

    extras = [kind for kind, on in ((".png", not args.no_png), (".wav", args.wav and wav_problem is None)) if on]
    log.info("wrote %d songs of %d 16th notes (seed %d) in %.1f s from %s:\n  %s%s", len(written), len(roll), seed,
             time.time() - start, checkpoint, "\n  ".join(written),
             f"\n  each with {' and '.join(extras)} beside it" if extras else "")
    if args.stats:
        songs = [midi_manipulation.midi_to_notes(path) for path in written]
        for path, song in zip(written, songs):
            print(f"{path}: {music_features.summary_line(*song)}")
        if len(songs) > 1:
            print(f"mean of {len(songs)} songs: polyphony {np.mean([music_features.mean_polyphony(*s)[0] for s in songs]):.2f}, "
                  f"silent {100 * np.mean([music_features.silent_fraction(*s)[0] for s in songs]):.1f}%")
    return written


if __name__ == "__main__":
    cli.run(main)
