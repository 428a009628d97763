"""Pictures: piano rolls of songs and the training loss curve (matplotlib, written as PNG)."""
import numpy as np

import midi_manipulation

NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
STEPS_PER_BAR = 16   # 4/4 on the 16th-note grid


def note_name(pitch):
    """MIDI number -> name with octave, e.g. 60 -> 'C4'."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def save_piano_roll_png(roll, path, lowest_note=midi_manipulation.LOWEST_NOTE, articulation=True, title=None,
                        melody=None):
    """Write `roll` ([time (16th notes), keys * (2 if articulation else 1)]) as a PNG at `path`.

    Played steps are drawn as bars, and the step where a note starts (its articulate bit) is
    marked darker, so repeated notes stay distinct. The notes of `melody` (a roll of the same
    layout, e.g. a harmonized tune) are drawn in orange, the rest in blue.
    """
    return save_piano_rolls_png([roll], path, lowest_note, articulation, [title],
                                None if melody is None else [melody])


def save_piano_rolls_png(rolls, path, lowest_note=midi_manipulation.LOWEST_NOTE, articulation=True, titles=None,
                         melodies=None):
    """Write several rolls side by side, on one scale of notes, as one PNG at `path`
    (save_piano_roll_png; `melodies`, one per roll or None, drawn in orange)."""
    plt = _pyplot()
    rolls = [np.asarray(roll) != 0 for roll in rolls]
    n_keys = rolls[0].shape[1] // 2 if articulation else rolls[0].shape[1]
    used = np.flatnonzero(np.any([roll[:, :n_keys].any(axis=0) for roll in rolls], axis=0))
    low, high = (used[0], used[-1]) if len(used) else (0, n_keys - 1)
    low, high = max(0, low - 2), min(n_keys - 1, high + 2)
    longest = max(len(roll) for roll in rolls)
    fig, axes = plt.subplots(1, len(rolls), sharey=True, squeeze=False, dpi=100,
                             figsize=(min(20 * len(rolls), len(rolls) * (4 + longest / 24)), 2 + (high - low) / 8))
    melodies = melodies or [None] * len(rolls)
    for ax, roll, title, melody in zip(axes[0], rolls, titles or [None] * len(rolls), melodies):
        _draw_roll(ax, roll, n_keys, low, high, lowest_note, articulation, title, melody)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _draw_roll(ax, roll, n_keys, low, high, lowest_note, articulation, title, melody=None):
    def image(roll):
        play, strike = roll[:, :n_keys], roll[:, n_keys:] if articulation else np.zeros((len(roll), n_keys), bool)
        return play[:, low:high + 1].T * 1.0 + strike[:, low:high + 1].T * 1.0   # 1 = held, 2 = struck
    bars = len(roll) / STEPS_PER_BAR
    extent = (0, bars, low - 0.5 + lowest_note, high + 0.5 + lowest_note)
    tune = None
    if melody is not None:
        tune = np.zeros_like(roll)
        given = np.asarray(melody)[:len(roll)] != 0
        tune[:len(given)] = given
        roll = roll & ~tune
    ax.imshow(image(roll), origin="lower", aspect="auto", cmap="Blues", vmin=0, vmax=2,
              interpolation="nearest", extent=extent)
    if tune is not None:
        ax.imshow(np.ma.masked_equal(image(tune), 0), origin="lower", aspect="auto", cmap="Oranges", vmin=0, vmax=2.2,
                  interpolation="nearest", extent=extent)
    c_keys = [p for p in range(low + lowest_note, high + lowest_note + 1) if p % 12 == 0]
    ax.set_yticks(c_keys, [note_name(p) for p in c_keys])
    ax.set_xlabel("bar (4/4, 16th-note steps)")
    ax.set_ylabel("note")
    ax.grid(axis="x", color="0.85", linewidth=0.5)
    if title:
        ax.set_title(title)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")   # files only, no screen needed
    import matplotlib.pyplot as plt
    return plt


def save_loss_curve_png(log, path):
    """Plot the `cost` column of a training log (pandas DataFrame with `epoch`, `cost`) to `path`."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(log["epoch"], log["cost"], marker="." if len(log) < 50 else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cost per row")
    ax.set_title("training cost: F(v) - F(v*) (RNN-RBM), -log p (RNN-NADE, RNN)")
    ax.grid(color="0.9")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
