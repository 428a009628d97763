"""MIDI files <-> piano rolls, with mido.

A piano roll here is the note-state matrix of the original Music_RNN_RBM: a uint8 array of
shape ``[time, frame_size]`` where time runs in 16th-note steps (four per beat, whatever the
file's ticks per beat) and each row holds the *play* bits of the keys
``lowest_note..highest_note`` (inclusive, MIDI numbers, low to high) followed, when
``articulation`` is on, by their *articulate* bits. A key plays at step t if a note sounds
during that step; it articulates at step t if a note starts there.
"""
import os
import warnings

import mido
import numpy as np

LOWEST_NOTE = 24         # C1
HIGHEST_NOTE = 101       # F7, inclusive: 78 keys
STEPS_PER_BEAT = 4       # 16th notes
DRUM_CHANNEL = 9         # General MIDI channel 10 holds drums, not pitches
MAX_SONG_STEPS = 100_000
MAX_DELTA = 0x0FFFFFFF   # the largest delta time a 4-byte variable-length quantity holds


class MidiError(ValueError):
    """A MIDI file that cannot be turned into a piano roll; the message names the file."""


def tick_to_step(ticks, ticks_per_beat):
    """Round absolute ticks to the nearest 16th-note step (halves round up).

    Parameters
    ----------
    ticks : int or ndarray of int
        Absolute times in MIDI ticks.
    ticks_per_beat : int
        The file's time division.

    Returns
    -------
    ndarray of int64, same shape as `ticks`.
    """
    ticks = np.asarray(ticks, dtype=np.int64)
    return (2 * STEPS_PER_BEAT * ticks + ticks_per_beat) // (2 * ticks_per_beat)


def midi_to_notes(path, max_steps=MAX_SONG_STEPS):
    """Read the notes of a MIDI file on the 16th-note grid.

    Parameters
    ----------
    path : str
        A standard MIDI file (format 0, 1 or 2).
    max_steps : int
        Songs longer than this many 16th-note steps are cut, with a warning.

    Returns
    -------
    notes : ndarray of int64, shape [n_notes, 3]
        One row per note: (MIDI pitch, first step, end step), end exclusive, end > start.
        Drums (channel 10) are left out.
    n_steps : int
        Length of the song in 16th-note steps: the end of its last note or event.
    """
    try:
        if os.path.getsize(path) == 0:
            raise MidiError(f"{path}: the file is empty")
        mid = mido.MidiFile(path, clip=True)
    except MidiError:
        raise
    except EOFError:
        raise MidiError(f"{path}: the file ends early (truncated, or a chunk length is wrong)") from None
    except Exception as e:  # mido raises OSError, ValueError, KeyError, IndexError... on bad bytes
        raise MidiError(f"{path}: not a readable MIDI file ({type(e).__name__}: {e})") from None
    tpb = mid.ticks_per_beat
    if tpb < 0 or tpb >= 0x8000:
        raise MidiError(f"{path}: uses SMPTE (frames per second) timing, which has no beats; "
                        "export it with ticks per beat")
    if tpb == 0:
        raise MidiError(f"{path}: its time division is 0 ticks per beat")
    if mid.type not in (0, 1, 2):
        raise MidiError(f"{path}: unknown MIDI file format {mid.type}")

    notes, end_tick = [], 0
    for track in mid.tracks:
        # format 2 holds independent sequences: play them one after the other
        tick = end_tick if mid.type == 2 else 0
        sounding = {}  # (channel, pitch) -> start ticks of the notes that are on, oldest first
        for msg in track:
            if msg.time > MAX_DELTA:
                raise MidiError(f"{path}: a delta time of {msg.time} ticks is beyond the MIDI maximum "
                                f"({MAX_DELTA}); the file is damaged")
            tick += msg.time
            if msg.type not in ("note_on", "note_off") or msg.channel == DRUM_CHANNEL:
                continue
            key = (msg.channel, msg.note)
            if msg.type == "note_on" and msg.velocity > 0:
                sounding.setdefault(key, []).append(tick)
            elif sounding.get(key):  # a note-off without a note-on is ignored
                notes.append((msg.note, sounding[key].pop(0), tick))
        end_tick = max(end_tick, tick)
        # notes never switched off last to the end of their track
        notes.extend((pitch, start, tick) for (_, pitch), starts in sounding.items() for start in starts)

    notes = np.array(notes, dtype=np.int64).reshape(-1, 3)
    notes[:, 1:] = tick_to_step(notes[:, 1:], tpb)
    notes[:, 2] = np.maximum(notes[:, 2], notes[:, 1] + 1)  # a note shorter than a 16th still sounds one step
    n_steps = max(int(tick_to_step(end_tick, tpb)), int(notes[:, 2].max(initial=0)))
    if n_steps > max_steps:
        if len(notes):   # a song of silence is skipped for having no notes; one warning is enough
            warnings.warn(f"{path}: {n_steps} steps is longer than max_song_steps={max_steps}; cut to {max_steps}")
        notes = notes[notes[:, 1] < max_steps]
        notes[:, 2] = np.minimum(notes[:, 2], max_steps)
        n_steps = max_steps
    return notes, n_steps


def frame_size(lowest_note, highest_note, articulation):
    """Units per 16th-note step of a piano roll: a play bit per key, then (with articulation) an
    articulate bit per key. The one definition of the layout; config.HParams asks it."""
    return (highest_note - lowest_note + 1) * (2 if articulation else 1)


def notes_to_piano_roll(notes, n_steps, lowest_note=LOWEST_NOTE, highest_note=HIGHEST_NOTE, articulation=True):
    """Piano roll ``[n_steps, frame_size]`` of (pitch, start, end) notes.

    Notes outside ``lowest_note..highest_note`` are dropped.
    """
    n_keys = highest_note - lowest_note + 1
    roll = np.zeros((n_steps, frame_size(lowest_note, highest_note, articulation)), np.uint8)
    for pitch, start, end in notes:
        if lowest_note <= pitch <= highest_note:
            key = pitch - lowest_note
            roll[start:end, key] = 1
            if articulation:
                roll[start, n_keys + key] = 1
    return roll


def midi_to_piano_roll(path, lowest_note=LOWEST_NOTE, highest_note=HIGHEST_NOTE, articulation=True,
                       max_steps=MAX_SONG_STEPS):
    """Piano roll of a MIDI file.

    Parameters
    ----------
    path : str
        A standard MIDI file.
    lowest_note, highest_note : int
        Inclusive MIDI range of the keys kept; other notes are dropped.
    articulation : bool
        Append the articulate bits after the play bits.
    max_steps : int
        Cap on the song's length in 16th-note steps.

    Returns
    -------
    ndarray of uint8, shape [time (16th-note steps), n_keys * (2 if articulation else 1)]
        Columns are keys from low to high: play bits, then articulate bits.

    Raises
    ------
    MidiError
        If the file cannot be read as MIDI.
    """
    notes, n_steps = midi_to_notes(path, max_steps)
    return notes_to_piano_roll(notes, n_steps, lowest_note, highest_note, articulation)


def piano_roll_to_midi(roll, path, lowest_note=LOWEST_NOTE, articulation=True, tickscale=55, velocity=40,
                       bpm=120.0):
    """Write a piano roll as a format-0 MIDI file.

    Parameters
    ----------
    roll : array, shape [time (16th-note steps), n_keys * (2 if articulation else 1)]
        Play bits of keys ``lowest_note..`` (low to high), then articulate bits. Any non-zero
        value counts as on. An articulate bit re-strikes a key that was already playing; one
        on a key that does not play is ignored.
    path : str
        Output file.
    tickscale : int
        MIDI ticks per 16th-note step; the file has ``4 * tickscale`` ticks per beat.
    velocity : int
        Velocity of every note.
    bpm : float
        Tempo written into the file.

    Every note still playing at the end is switched off there, at ``time * tickscale`` ticks.
    """
    roll = np.asarray(roll) != 0
    n_keys = roll.shape[1] // 2 if articulation else roll.shape[1]
    if roll.ndim != 2 or n_keys * (2 if articulation else 1) != roll.shape[1]:
        raise ValueError(f"piano roll of shape {roll.shape} does not have {'2 * ' if articulation else ''}n_keys columns")
    play = roll[:, :n_keys]
    strike = roll[:, n_keys:] & play if articulation else np.zeros_like(play)
    was = np.vstack([np.zeros((1, n_keys), bool), play])   # [time + 1, n_keys]
    now = np.vstack([play, np.zeros((1, n_keys), bool)])   # the extra row switches every note off
    restruck = np.vstack([strike, np.zeros((1, n_keys), bool)]) & was
    offs = was & (~now | restruck)
    ons = now & (~was | restruck)

    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    last_tick = 0
    for step in range(play.shape[0] + 1):
        events = [("note_off", k) for k in np.flatnonzero(offs[step])] + [("note_on", k) for k in np.flatnonzero(ons[step])]
        for kind, key in events:
            tick = step * tickscale
            track.append(mido.Message(kind, note=int(key) + lowest_note, velocity=velocity if kind == "note_on" else 0,
                                      time=tick - last_tick))
            last_tick = tick
    track.append(mido.MetaMessage("end_of_track", time=play.shape[0] * tickscale - last_tick))
    mid = mido.MidiFile(type=0, ticks_per_beat=STEPS_PER_BEAT * tickscale)
    mid.tracks.append(track)
    mid.save(path)


def canonical_piano_roll(roll, articulation=True):
    """The roll as it sounds once written to MIDI: articulate bits only on played steps, and set
    wherever a note starts. `piano_roll_to_midi` then `midi_to_piano_roll` gives it back exactly."""
    roll = np.asarray(roll) != 0
    if not articulation:
        return roll.astype(np.uint8)
    n_keys = roll.shape[1] // 2
    play = roll[:, :n_keys]
    started = play & ~np.vstack([np.zeros((1, n_keys), bool), play[:-1]])
    return np.hstack([play, play & (roll[:, n_keys:] | started)]).astype(np.uint8)


def pitch_frames_to_piano_roll(frames, lowest_note=LOWEST_NOTE, highest_note=HIGHEST_NOTE, articulation=True):
    """Piano roll ``[len(frames), frame_size]`` of a list of frames of MIDI pitches (a benchmark
    pickle's song), one step a frame.

    A key articulates where it starts to sound (it did not sound in the frame before), as in
    `canonical_piano_roll`; pitches outside ``lowest_note..highest_note`` are dropped.
    """
    n_keys = highest_note - lowest_note + 1
    play = np.zeros((len(frames), n_keys), np.uint8)
    for t, frame in enumerate(frames):
        play[t, [p - lowest_note for p in frame if lowest_note <= p <= highest_note]] = 1
    return canonical_piano_roll(np.hstack([play, np.zeros_like(play)])) if articulation else play


def piano_roll_to_rows(roll, steps_per_rbm):
    """Stack `steps_per_rbm` consecutive steps into one RBM row.

    ``[time, frame_size] -> [time // steps_per_rbm, steps_per_rbm * frame_size]``; a last,
    incomplete group of steps is dropped.
    """
    n_rows = roll.shape[0] // steps_per_rbm
    return roll[:n_rows * steps_per_rbm].reshape(n_rows, steps_per_rbm * roll.shape[1])


def rows_to_piano_roll(rows, frame_size):
    """Inverse of `piano_roll_to_rows`: ``[n_rows, k * frame_size] -> [n_rows * k, frame_size]``."""
    return np.asarray(rows).reshape(-1, frame_size)
