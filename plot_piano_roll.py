"""Draw a MIDI file's piano roll as a PNG: time in bars, note names, notes and their starts.

    python plot_piano_roll.py music_outputs/1_unprimed.mid [--out roll.png] [--bars 16]
"""
import os
import sys

import cli
import midi_manipulation
import plots


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("midi", help="MIDI file to draw")
    parser.add_argument("--out", default=None, help="PNG path (default: the MIDI path with .png)")
    parser.add_argument("--bars", type=float, default=None, help="draw only the first this many bars (default: all)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    try:
        roll = midi_manipulation.midi_to_piano_roll(args.midi, 0, 127)
    except midi_manipulation.MidiError as e:
        raise ValueError(f"{e}; pass a readable MIDI file") from None
    if args.bars:
        roll = roll[:int(args.bars * plots.STEPS_PER_BAR)]
    out = args.out or os.path.splitext(args.midi)[0] + ".png"
    plots.save_piano_roll_png(roll, out, lowest_note=0, title=os.path.basename(args.midi))
    print(out)
    return out


if __name__ == "__main__":
    sys.exit(cli.run(main) and 0)
