"""Build the default training data: Bach's four-voice chorales in 4/4, as MIDI files.

The chorales come from the corpus that ships inside the music21 package (public-domain
compositions). The folder keeps the original project's name, Pop_Music_Midi/.

    python make_default_data.py [--out Pop_Music_Midi] [--limit N]
"""
import sys

import cli
import datasets


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("--out", default=datasets.DEFAULT_DATA, help="folder to write the MIDI files to (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="stop after this many chorales (default: all)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    datasets.build_default_data(args.out, args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
