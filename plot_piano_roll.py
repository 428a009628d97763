"""Draw a MIDI file's piano roll as a PNG: time in bars, note names, notes and their starts.
Given several files, draw them side by side on one scale of notes (titles: --titles).

    python plot_piano_roll.py music_outputs/1_unprimed.mid [--out roll.png] [--bars 16]
    python plot_piano_roll.py a/1_unprimed.mid b/1_unprimed.mid --titles RNN-RBM,RNN-NADE --out both.png
"""
import os
import sys

import cli
import midi_manipulation
import plots


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("midi", nargs="+", help="MIDI file(s) to draw")
    parser.add_argument("--out", default=None, help="PNG path (default: the first MIDI path with .png)")
    parser.add_argument("--titles", default=None, help="comma-separated titles, one per file (default: the file names)")
    parser.add_argument("--bars", type=float, default=None, help="draw only the first this many bars (default: all)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    titles = args.titles.split(",") if args.titles else [os.path.basename(path) for path in args.midi]
    if len(titles) != len(args.midi):
        raise ValueError(f"--titles gives {len(titles)} titles for {len(args.midi)} files; give one per file")
    rolls = []
    for path in args.midi:
        try:
            roll = midi_manipulation.midi_to_piano_roll(path, 0, 127)
        except midi_manipulation.MidiError as e:
            raise ValueError(f"{e}; pass a readable MIDI file") from None
        rolls.append(roll[:int(args.bars * plots.STEPS_PER_BAR)] if args.bars else roll)
    out = args.out or os.path.splitext(args.midi[0])[0] + ".png"
    plots.save_piano_rolls_png(rolls, out, lowest_note=0, titles=titles)
    print(out)
    return out


if __name__ == "__main__":
    sys.exit(cli.run(main) and 0)
