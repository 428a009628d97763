"""What the entry scripts share: argument parsing, logging and clean failure."""
import argparse
import logging
import os
import shlex
import sys
import tempfile

# TensorFlow's C++ start-up chatter hides the messages users need; keep errors only.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_parser(doc):
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    parser.add_argument("--quiet", action="store_true", help="print warnings and errors only")
    parser.add_argument("--verbose", action="store_true", help="print debugging messages too")
    return parser


def setup_logging(args):
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", force=True)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def import_tf():
    """TensorFlow in TF1 graph mode, as the whole project uses it.

    TensorFlow's C++ start-up notices (oneDNN, CPU features) bypass Python's logging and
    bury the messages users need, so stderr is held aside while it loads and shown only if
    the import fails.
    """
    if "tensorflow" not in sys.modules:
        with tempfile.TemporaryFile(mode="w+") as held:
            sys.stderr.flush()
            saved = os.dup(2)
            os.dup2(held.fileno(), 2)
            try:
                import tensorflow  # noqa: F401  (loaded here with its start-up output held aside)
            except BaseException:
                os.dup2(saved, 2)
                held.seek(0)
                sys.stderr.write(held.read())
                raise
            finally:
                os.dup2(saved, 2)
                os.close(saved)
    import tensorflow.compat.v1 as tf
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    tf.disable_v2_behavior()
    return tf


def run(main, argv=None):
    """Call main(argv); a ValueError (bad input) becomes a one-line message and exit code 2, and a
    Ctrl-C that the script did not handle itself (before its work began) one line and exit code 130."""
    try:
        return main(argv)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C)", file=sys.stderr)
        sys.exit(130)


def quote(text):
    """`text` as one shell word, for commands printed for users to copy."""
    return shlex.quote(str(text))
