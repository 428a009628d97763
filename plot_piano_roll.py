"""Draw a MIDI file's piano roll as a PNG: time in bars, note names, notes and their starts.

    python plot_piano_roll.py music_outputs/1_unprimed.mid [--out roll.png] [--bars 16]
"""
import argparse
import os

import numpy as np

import midi_manipulation

NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
STEPS_PER_BAR = 16   # 4/4 on the 16th-note grid


def note_name(pitch):
    """MIDI number -> name with octave, e.g. 60 -> 'C4'."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def save_piano_roll_png(roll, path, lowest_note=midi_manipulation.LOWEST_NOTE, articulation=True, title=None):
    """Write `roll` ([time (16th notes), keys * (2 if articulation else 1)]) as a PNG at `path`.

    Played steps are drawn as bars, and the step where a note starts (its articulate bit) is
    marked darker, so repeated notes stay distinct.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    roll = np.asarray(roll) != 0
    n_keys = roll.shape[1] // 2 if articulation else roll.shape[1]
    play, strike = roll[:, :n_keys], roll[:, n_keys:] if articulation else np.zeros((len(roll), n_keys), bool)
    used = np.flatnonzero(play.any(axis=0))
    low, high = (used[0], used[-1]) if len(used) else (0, n_keys - 1)
    low, high = max(0, low - 2), min(n_keys - 1, high + 2)

    image = play[:, low:high + 1].T * 1.0 + strike[:, low:high + 1].T * 1.0   # 1 = held, 2 = struck
    fig, ax = plt.subplots(figsize=(min(20, 4 + len(roll) / 24), 2 + (high - low) / 8), dpi=100)
    bars = len(roll) / STEPS_PER_BAR
    ax.imshow(image, origin="lower", aspect="auto", cmap="Blues", vmin=0, vmax=2, interpolation="nearest",
              extent=(0, bars, low - 0.5 + lowest_note, high + 0.5 + lowest_note))
    c_keys = [p for p in range(low + lowest_note, high + lowest_note + 1) if p % 12 == 0]
    ax.set_yticks(c_keys, [note_name(p) for p in c_keys])
    ax.set_xlabel("bar (4/4, 16th-note steps)")
    ax.set_ylabel("note")
    ax.grid(axis="x", color="0.85", linewidth=0.5)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("midi", help="MIDI file to draw")
    parser.add_argument("--out", default=None, help="PNG path (default: beside the MIDI file)")
    parser.add_argument("--bars", type=float, default=None, help="draw only the first this many bars")
    args = parser.parse_args(argv)
    try:
        roll = midi_manipulation.midi_to_piano_roll(args.midi, 0, 127)
    except midi_manipulation.MidiError as e:
        parser.exit(2, f"error: {e}; pass a readable MIDI file\n")
    if args.bars:
        roll = roll[:int(args.bars * STEPS_PER_BAR)]
    out = args.out or os.path.splitext(args.midi)[0] + ".png"
    save_piano_roll_png(roll, out, lowest_note=0, title=os.path.basename(args.midi))
    print(out)


if __name__ == "__main__":
    main()
