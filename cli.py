"""What the entry scripts share: argument parsing, logging and clean failure."""
import argparse
import logging
import sys


def make_parser(doc):
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    parser.add_argument("--quiet", action="store_true", help="print warnings and errors only")
    parser.add_argument("--verbose", action="store_true", help="print debugging messages too")
    return parser


def setup_logging(args):
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", force=True)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


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
