"""How much generated songs resemble real ones: MGEval's features and comparison (Yang & Lerch
2020), with a ceiling, a floor and a check for copying.

    python music_stats.py music_outputs [--real Pop_Music_Midi] [--png stats.png]

For each feature (music_features.py: pitch count, pitch-class histogram and transitions, pitch
range, mean pitch interval, note count, mean inter-onset interval, note-length histogram and
transitions, mean polyphony, silent fraction, key fit, bar repetition), the distances among the
real songs and those from real to generated songs are smoothed into densities; the table gives
their overlapped area (1 is best) and KL divergence. On the same run:
- the ceiling: one random half of the real songs against the other half;
- the floor: songs drawn frame by frame from the independent-Bernoulli model of the real songs,
  as many and as long as the generated ones;
- originality: the longest run of consecutive bars a generated song shares with a real song,
  after transposition. A model that copies its data is not "realistic". For scale, it also
  logs how long a run each real song shares with the other real songs: common chords fill
  whole bars in many songs.

The last line: `overlap X.XXX (real vs real Y.YYY, independent Bernoulli Z.ZZZ), longest copied
run N bars`.
"""
import logging
import os
import sys
import warnings

import numpy as np
from tqdm import tqdm

import cli
import datasets
import midi_manipulation
import music_features
import plots

log = logging.getLogger(__name__)


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("generated", help="folder of generated MIDI files (searched recursively)")
    parser.add_argument("--real", default=datasets.DEFAULT_DATA,
                        help="folder of real MIDI files (default: %(default)s, built on first use)")
    parser.add_argument("--png", default=None, help="picture of the distances' densities "
                                                    "(default: music_stats.png in the generated folder)")
    parser.add_argument("--bars", type=int, default=None, help="compare windows of this many bars, real and "
                        "generated songs cut alike (default: the real songs' median length)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the ceiling's halves and the floor's songs "
                                                            "(default: %(default)s)")
    return parser


def load_folder(folder, what, progress=True):
    """([(notes, n_steps)], [path]) of every readable MIDI file under folder; a bad file is a warning."""
    paths = datasets.find_midi_files(folder)
    if not paths:
        raise ValueError(f"{folder} holds no .mid or .midi files; pass the folder of the {what} songs")
    songs, read, skipped = [], [], 0
    for path in tqdm(paths, desc=f"reading {what} songs", unit="song", leave=False, disable=not progress or len(paths) < 50):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")      # a long song is cut; its length does not matter here
                songs.append(midi_manipulation.midi_to_notes(path))
            read.append(path)
        except midi_manipulation.MidiError as e:
            log.warning("skipping %s", e)
            skipped += 1
    if not songs:
        raise ValueError(f"none of the {len(paths)} MIDI files in {folder} could be read (see the warnings above)")
    log.info("read %d %s songs from %s%s", len(songs), what, folder, f", skipped {skipped}" if skipped else "")
    return songs, read


def print_table(main, ceiling, floor):
    print(f"{'feature':30} {'overlap':>8} {'KL':>7} {'real/real':>10} {'Bernoulli':>10}")
    for name in music_features.FEATURES:
        print(f"{name:30} {main.overlap[name]:8.3f} {main.kl[name]:7.3f} {ceiling.overlap[name]:10.3f} "
              f"{floor.overlap[name]:10.3f}")
    print(f"{'mean':30} {main.mean_overlap:8.3f} {'':7} {ceiling.mean_overlap:10.3f} {floor.mean_overlap:10.3f}")


def save_png(main, path):
    plt = plots._pyplot()
    names = list(music_features.FEATURES)
    cols = 4
    fig, axes = plt.subplots(-(-len(names) // cols), cols, figsize=(4 * cols, 2.6 * -(-len(names) // cols)), dpi=80)
    for ax, name in zip(axes.ravel(), names):
        grid, intra, inter = main.curves[name]
        ax.plot(grid, intra, label="real vs real")
        ax.plot(grid, inter, label="real vs generated")
        ax.set_title(f"{name}: overlap {main.overlap[name]:.2f}", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    if not os.path.isdir(args.generated):
        raise ValueError(f"{args.generated} is not a folder; pass the folder rnn_rbm_generate.py wrote (--out)")
    datasets.ensure_default_data(args.real)
    if not os.path.isdir(args.real):
        raise ValueError(f"--real {args.real} is not a folder of MIDI files")
    generated, generated_paths = load_folder(args.generated, "generated", not args.quiet)
    songs, paths = load_folder(args.real, "real", not args.quiet)
    with_notes = [i for i, (notes, _) in enumerate(songs) if len(notes)]
    real, real_paths = [songs[i] for i in with_notes], [paths[i] for i in with_notes]
    if len(real) < 4:
        raise ValueError(f"{args.real} holds {len(real)} songs with notes; the comparison needs at least 4")
    if args.bars is not None and args.bars < 1:
        raise ValueError(f"--bars must be at least 1, got {args.bars}")
    bars = args.bars or music_features.median_bars(real)
    rng = np.random.default_rng(args.seed)
    real_f = music_features.windowed_features(real, bars)
    generated_f = music_features.windowed_features(generated, bars)
    main_cmp = music_features.compare(real_f, generated_f)
    ceiling = music_features.compare(*music_features.split_halves(real_f, rng))
    floor_songs = music_features.bernoulli_songs(real, [n_steps for _, n_steps in generated], rng)
    floor = music_features.compare(real_f, music_features.windowed_features(floor_songs, bars))
    count = lambda features: len(next(iter(features.values())))
    log.info("compared in windows of %d bars: %d real, %d generated", bars, count(real_f), count(generated_f))
    copied, g, r = music_features.longest_copied_run(generated, real)
    print_table(main_cmp, ceiling, floor)
    png = args.png or os.path.join(args.generated, "music_stats.png")
    save_png(main_cmp, png)
    log.info("densities drawn in %s", png)
    if copied:
        log.info("longest copied run: %d bars of %s in %s", copied, generated_paths[g], real_paths[r])
    shared = [bars for bars, _ in music_features.copied_runs(real, real, among_themselves=True)]
    log.info("for scale: the longest run a real song shares with another real song is %g bars at the median, "
             "%g at the 90th percentile", np.median(shared), np.percentile(shared, 90))
    print(f"overlap {main_cmp.mean_overlap:.3f} (real vs real {ceiling.mean_overlap:.3f}, independent Bernoulli "
          f"{floor.mean_overlap:.3f}), longest copied run {copied} bars")
    return main_cmp


if __name__ == "__main__":
    cli.run(main)
    sys.exit(0)
