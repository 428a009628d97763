"""A longer fuzz campaign of the MIDI loader than CI runs: random and mutated MIDI bytes.

    python tests/fuzz_midi.py [--seconds 300] [--seed 0]

Every case must load or raise the project's MidiError, within --limit seconds. Prints one
line of counts at the end; exits 1 if any case escaped with another error or ran too long
(the bytes of such cases are kept in --out for a bug report).
"""
import os
import random
import sys
import tempfile
import time
import warnings

import midi_corpus
# the project's modules, as conftest.py finds them for the tests
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import cli  # noqa: E402
import midi_manipulation  # noqa: E402


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=300, help="how long to fuzz (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--limit", type=float, default=2.0, help="seconds one case may take (default: %(default)s)")
    parser.add_argument("--out", default="fuzz_failures", help="folder for failing inputs (default: %(default)s)")
    return parser


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if not data:
            break
        i = rng.randrange(len(data))
        kind = rng.random()
        if kind < 0.5:
            data[i] = rng.randrange(256)
        elif kind < 0.7:
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif kind < 0.9:
            del data[i:i + rng.randint(1, 8)]
        else:
            del data[i:]
    return bytes(data)


def main(argv=None):
    args = build_parser().parse_args(argv)
    rng = random.Random(args.seed)
    seeds = [data for data, _ in midi_corpus.corpus().values() if data]
    counts = {"cases": 0, "loaded": 0, "midi_error": 0, "escaped": 0, "too_slow": 0}
    slowest, start = 0.0, time.time()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "case.mid")
        while time.time() - start < args.seconds:
            if rng.random() < 0.2:
                data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
            else:
                data = mutate(rng, rng.choice(seeds))
            with open(path, "wb") as f:
                f.write(data)
            case_start = time.time()
            problem = None
            try:
                midi_manipulation.midi_to_piano_roll(path, max_steps=20_000)
                counts["loaded"] += 1
            except midi_manipulation.MidiError:
                counts["midi_error"] += 1
            except Exception as e:  # the finding this script exists for
                counts["escaped"] += 1
                problem = f"{type(e).__name__}: {e}"
            took = time.time() - case_start
            slowest = max(slowest, took)
            if took > args.limit:
                counts["too_slow"] += 1
                problem = problem or f"took {took:.2f} s"
            if problem:
                os.makedirs(args.out, exist_ok=True)
                keep = os.path.join(args.out, f"case_{counts['cases']}.mid")
                with open(keep, "wb") as f:
                    f.write(data)
                print(f"{keep}: {problem}", file=sys.stderr)
            counts["cases"] += 1
    elapsed = time.time() - start
    print(f"{counts['cases']} cases in {elapsed:.0f} s ({counts['cases'] / elapsed:.0f}/s): {counts['loaded']} loaded, "
          f"{counts['midi_error']} MidiError, {counts['escaped']} other errors, {counts['too_slow']} over "
          f"{args.limit} s; slowest case {slowest * 1000:.1f} ms")
    return 1 if counts["escaped"] or counts["too_slow"] else 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
