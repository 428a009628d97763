"""Harmonizing a melody: the user's tune as the top voice, the model's voices below it.

A melody is the top line of a MIDI file on the 16th-note grid: at each step the highest note
that sounds, or a rest. Each RBM row of the harmonization holds, at every step of it:

- where the melody sounds: its key's play bit on, its articulate bit (where the preset has
  them) as the melody's, and every key above it off;
- where the melody rests: every key at or above the melody's last note off (before its first
  note, the first note's key), so that the model may go on below it, or rest, but never rises
  above the tune.

The keys below are the model's (rnn_rbm.Conditional.sample_given). This module reads and checks
melodies and builds those clamps; it also counts parallel fifths and octaves (docs/music.md).
"""
import collections
import logging

import numpy as np

import midi_manipulation

log = logging.getLogger(__name__)

REST = -1

Melody = collections.namedtuple("Melody", [
    "pitch",    # int [steps]: MIDI pitch of the tune at each 16th-note step, after `shift`; REST where it rests
    "struck",   # bool [steps]: where the tune's note starts (or starts again)
    "shift",    # int: semitones the tune was moved by (a whole number of octaves) to lie on the model's keys
    "chords",   # bool: the file had several notes at once somewhere, so its top line was taken
])


class MelodyError(ValueError):
    """A melody that cannot be harmonized; the message names the file and says why."""


def top_line(notes, n_steps):
    """(pitch [n_steps], struck [n_steps], chords) of (pitch, start, end) notes: the highest
    note at each step, REST where none sounds; a step is struck where the top note starts, is
    struck again, or changes; chords: whether two notes ever sound at once."""
    pitch = np.full(n_steps, REST, np.int64)
    count = np.zeros(n_steps, np.int64)
    onset = np.zeros((n_steps, 128), bool)
    for p, start, end in notes:
        pitch[start:end] = np.maximum(pitch[start:end], p)
        count[start:end] += 1
        onset[start, p] = True
    previous = np.concatenate([[REST], pitch[:-1]])
    sounding = pitch != REST
    struck = sounding & ((pitch != previous) | onset[np.arange(n_steps), np.maximum(pitch, 0)])
    return pitch, struck, bool((count > 1).any())


def octave_shift(low, high, lowest_note, highest_note):
    """The multiple of 12 nearest 0 that moves low..high inside lowest_note..highest_note, or None."""
    fits = [12 * k for k in range(-10, 11) if lowest_note <= low + 12 * k and high + 12 * k <= highest_note]
    return min(fits, key=abs) if fits else None


def read_melody(path, hp):
    """The Melody of a MIDI file for a model of hparams hp; MelodyError if it cannot be one."""
    try:
        notes, n_steps = midi_manipulation.midi_to_notes(path, hp.max_song_steps)
    except midi_manipulation.MidiError as e:
        raise MelodyError(f"--harmonize: {e}; pass a MIDI file of the tune") from None
    if len(notes) == 0:
        raise MelodyError(f"--harmonize: {path} has no notes (drums, on channel 10, are not a melody); "
                          "pass a MIDI file with the tune in it")
    pitch, struck, chords = top_line(notes, n_steps)
    low, high = int(pitch[pitch != REST].min()), int(pitch.max())
    shift = octave_shift(low, high, hp.lowest_note, hp.highest_note)
    if shift is None:
        raise MelodyError(f"--harmonize: {path}'s tune spans MIDI notes {low}..{high}, and no octave shift puts it "
                          f"on the model's keys {hp.lowest_note}..{hp.highest_note}; pass a tune of at most "
                          f"{hp.n_notes} semitones' range")
    end = int(notes[:, 2].max())                                              # the tune lasts to its last note's end
    pitch = np.where(pitch == REST, REST, pitch + shift)[:end]
    return Melody(pitch=pitch, struck=struck[:end], shift=shift, chords=chords)


def describe(melody, path):
    """One line on what was taken from the file, for the log."""
    parts = [f"{path}: a tune of {len(melody.pitch)} 16th notes"]
    if melody.chords:
        parts.append("the file has several notes at once: its top line is the melody")
    if melody.shift:
        parts.append(f"moved {melody.shift:+d} semitones ({melody.shift // 12:+d} octaves) onto the model's keys")
    return "; ".join(parts)


def ceilings(melody):
    """[steps]: the melody's pitch where it sounds, else its last pitch before (its first, before it starts)."""
    pitch = melody.pitch.copy()
    sounding = np.flatnonzero(pitch != REST)
    last = np.maximum.accumulate(np.where(pitch != REST, np.arange(len(pitch)), -1))
    return np.where(last >= 0, pitch[np.maximum(last, 0)], pitch[sounding[0]])


def clamp_steps(melody, hp):
    """(mask, values), uint8 [steps, frame_size] each: the units each 16th-note step holds."""
    steps, n_keys = len(melody.pitch), hp.n_notes
    key = ceilings(melody) - hp.lowest_note                                   # [steps]
    sounding = melody.pitch != REST
    keys = np.arange(n_keys)
    held = keys[None, :] >= key[:, None]                                      # [steps, keys]: the tune's key and above
    on = (keys[None, :] == key[:, None]) & sounding[:, None]
    mask, values = [held], [on]
    if hp.articulation:
        mask.append(held)
        values.append(on & melody.struck[:, None])
    return np.hstack(mask).astype(np.uint8), np.hstack(values).astype(np.uint8)


def clamp_rows(melody, hp):
    """(mask, values), float32 [rows, n_visible]: clamp_steps as RBM rows, the last one padded with
    steps that rest under the tune's last note."""
    mask, values = clamp_steps(melody, hp)
    pad = -len(mask) % hp.steps_per_rbm
    mask = np.vstack([mask, np.repeat(mask[-1:], pad, 0)])
    values = np.vstack([values, np.zeros((pad, values.shape[1]), np.uint8)])
    rows = lambda a: midi_manipulation.piano_roll_to_rows(a, hp.steps_per_rbm).astype(np.float32)
    return rows(mask), rows(values)


def melody_roll(melody, hp):
    """The tune alone as a piano roll [steps, frame_size] (its clamped 'on' units)."""
    return clamp_steps(melody, hp)[1]


def melody_from_roll(roll, hp):
    """The Melody of a piano roll's top line (a test chorale's top voice): [steps, frame_size]."""
    play = np.asarray(roll)[:, :hp.n_notes] != 0
    steps = np.arange(len(play))
    top = np.where(play.any(1), hp.n_notes - 1 - np.argmax(play[:, ::-1], 1), REST)
    pitch = np.where(top == REST, REST, top + hp.lowest_note)
    previous = np.concatenate([[REST], pitch[:-1]])
    restruck = (np.asarray(roll)[steps, hp.n_notes + np.maximum(top, 0)] != 0) if hp.articulation else False
    struck = (pitch != REST) & ((pitch != previous) | restruck)
    return Melody(pitch=pitch, struck=struck, shift=0, chords=True)


def parallels(play):
    """Parallel fifths and octaves in a piano roll's play bits [steps, keys]: between each two
    steps whose notes differ and that sound the same number of notes (at least two), the voices
    paired by rank from the top, every two voices a perfect fifth or octave apart (mod 12: 7 or
    0) at both steps, both moving the same way. Returns the count."""
    count = 0
    previous = None
    for frame in np.asarray(play) != 0:
        notes = np.flatnonzero(frame)[::-1]                                   # top first
        if previous is not None and len(notes) == len(previous) >= 2 and not np.array_equal(notes, previous):
            move = notes - previous
            for i in range(len(notes)):
                for j in range(i + 1, len(notes)):
                    before, after = (previous[i] - previous[j]) % 12, (notes[i] - notes[j]) % 12
                    if before == after and after in (0, 7) and move[i] * move[j] > 0:
                        count += 1
        previous = notes
    return count
