import os
import sys

import mido
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import tf1  # noqa: E402,F401  (TensorFlow in the project's TF1 mode, started as the scripts start it)

SHARED = os.path.join(os.path.dirname(ROOT), "shared")


def write_midi(path, notes, ticks_per_beat=480, end_tick=None, extra=(), file_type=1):
    """A one-track MIDI file of (pitch, start_tick, end_tick[, channel]) notes plus raw `extra` messages.

    `extra` holds (tick, mido.Message) pairs mixed in at their absolute ticks.
    """
    events = []
    for note in notes:
        pitch, start, end = note[:3]
        channel = note[3] if len(note) > 3 else 0
        events.append((start, 1, mido.Message("note_on", note=pitch, velocity=64, channel=channel)))
        events.append((end, 0, mido.Message("note_off", note=pitch, velocity=0, channel=channel)))
    events += [(tick, 2, msg) for tick, msg in extra]
    events.sort(key=lambda e: (e[0], e[1]))
    track, last = mido.MidiTrack(), 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - last))
        last = tick
    if end_tick is not None:
        track.append(mido.MetaMessage("end_of_track", time=max(0, end_tick - last)))
    mid = mido.MidiFile(type=file_type, ticks_per_beat=ticks_per_beat)
    mid.tracks.append(track)
    mid.save(path)
    return path


@pytest.fixture
def midi_file(tmp_path):
    """Factory: midi_file(notes, name='song.mid', **kwargs) -> path of a fresh MIDI file."""
    def make(notes, name="song.mid", **kwargs):
        return write_midi(str(tmp_path / name), notes, **kwargs)
    return make
