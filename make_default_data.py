"""Build the default training data: Bach's four-voice chorales in 4/4, as MIDI files.

The chorales come from the corpus that ships inside the music21 package (public-domain
compositions). The folder keeps the original project's name, Pop_Music_Midi/.

    python make_default_data.py [--out Pop_Music_Midi] [--limit N]
"""
import logging
import os

from tqdm import tqdm

import cli

log = logging.getLogger(__name__)


def is_four_voice_common_time(score):
    """True for a score of four parts whose every time signature is 4/4."""
    if len(score.parts) != 4:
        return False
    signatures = score.recurse().getElementsByClass("TimeSignature")
    return len(signatures) > 0 and all(ts.ratioString == "4/4" for ts in signatures)


def build(out, limit=None):
    """Write every 4/4 four-voice Bach chorale of music21's corpus to `out`; return how many."""
    from music21 import corpus   # heavy; only needed here

    os.makedirs(out, exist_ok=True)
    paths = sorted(corpus.getComposer("bach"), key=str)
    written, done = 0, set()
    for path in tqdm(paths, desc="Bach chorales", unit="file"):
        name = os.path.splitext(os.path.basename(str(path)))[0]
        target = os.path.join(out, f"bach_{name.replace('.', '_')}.mid")
        if not name.startswith("bwv") or target in done:   # some chorales are in the corpus twice (.krn and .mxl)
            continue
        done.add(target)
        tmp = target + ".tmp"
        try:
            score = corpus.parse(path)
            if not is_four_voice_common_time(score):
                continue
            score.write("midi", fp=tmp)
        except Exception as e:  # a corpus file music21 itself cannot convert is left out, loudly
            log.warning("skipping %s: music21 cannot convert it (%s)", path, e)
            if os.path.exists(tmp):
                os.remove(tmp)
            continue
        os.replace(tmp, target)
        written += 1
        if limit and written >= limit:
            break
    log.info("wrote %d chorales to %s", written, out)
    return written


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("--out", default="Pop_Music_Midi", help="folder to write the MIDI files to (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="stop after this many chorales (default: all)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    return build(args.out, args.limit)


if __name__ == "__main__":
    cli.run(main)
