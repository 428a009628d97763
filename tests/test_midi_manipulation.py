"""Exact piano rolls of tiny hand-built MIDI files, in both directions."""
import os
import time
import warnings

import mido
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import midi_corpus
import midi_manipulation
import midi_manipulation as mm

C4, E4, G4 = 60, 64, 67
LOW, HIGH = 60, 67          # 8 keys keep the matrices readable


def roll_of(path, **kwargs):
    return mm.midi_to_piano_roll(path, lowest_note=LOW, highest_note=HIGH, **kwargs)


def expected(play_steps, strike_steps, n_steps):
    """Piano roll from {pitch: steps} dicts for play and articulate."""
    roll = np.zeros((n_steps, 16), np.uint8)
    for pitch, steps in play_steps.items():
        roll[steps, pitch - LOW] = 1
    for pitch, steps in strike_steps.items():
        roll[steps, 8 + pitch - LOW] = 1
    return roll


# C4 for a beat, E4 from the 3rd 16th, G4 for one 16th after: ticks at 480 per beat
CHORD = [(C4, 0, 480), (E4, 240, 480), (G4, 480, 600)]
CHORD_ROLL = expected({C4: [0, 1, 2, 3], E4: [2, 3], G4: [4]}, {C4: [0], E4: [2], G4: [4]}, 5)


def test_exact_matrix(midi_file):
    np.testing.assert_array_equal(roll_of(midi_file(CHORD)), CHORD_ROLL)


@pytest.mark.parametrize("tpb", [96, 220, 384, 960, 10080])
def test_matrix_does_not_depend_on_ticks_per_beat(midi_file, tpb):
    scaled = [(p, s * tpb // 480, e * tpb // 480) for p, s, e in CHORD]
    np.testing.assert_array_equal(roll_of(midi_file(scaled, ticks_per_beat=tpb)), CHORD_ROLL)


def test_play_only_roll(midi_file):
    roll = roll_of(midi_file(CHORD), articulation=False)
    np.testing.assert_array_equal(roll, CHORD_ROLL[:, :8])


def test_times_round_to_the_nearest_16th(midi_file):
    # a 16th is 120 ticks: 59 rounds down to step 0, 60 (half way) rounds up to step 1
    roll = roll_of(midi_file([(C4, 59, 300), (E4, 60, 300)]))
    np.testing.assert_array_equal(roll, expected({C4: [0, 1, 2], E4: [1, 2]}, {C4: [0], E4: [1]}, 3))


def test_short_note_lasts_one_step_and_restrike_articulates(midi_file):
    # a 10-tick grace note still sounds; a second note-on of a held key re-articulates it
    notes = [(C4, 0, 10), (E4, 0, 240), (E4, 240, 480)]
    roll = roll_of(midi_file(notes))
    np.testing.assert_array_equal(roll, expected({C4: [0], E4: [0, 1, 2, 3]}, {C4: [0], E4: [0, 2]}, 4))


def test_out_of_range_drums_and_stray_note_offs_are_ignored(midi_file):
    notes = [(C4, 0, 240), (40, 0, 240), (G4, 0, 240, 9)]   # 40 is below the range; channel 10 is drums
    stray_off = [(120, mido.Message("note_off", note=E4, velocity=0))]
    roll = roll_of(midi_file(notes, extra=stray_off))
    np.testing.assert_array_equal(roll, expected({C4: [0, 1]}, {C4: [0]}, 2))


def test_note_on_with_velocity_zero_ends_a_note(midi_file):
    extra = [(0, mido.Message("note_on", note=C4, velocity=80)), (240, mido.Message("note_on", note=C4, velocity=0))]
    roll = roll_of(midi_file([], extra=extra, end_tick=480))
    np.testing.assert_array_equal(roll, expected({C4: [0, 1]}, {C4: [0]}, 4))


def test_trailing_silence_and_unended_notes_last_to_the_end_of_track(midi_file):
    extra = [(0, mido.Message("note_on", note=G4, velocity=80))]       # never switched off
    roll = roll_of(midi_file([(C4, 0, 120)], extra=extra, end_tick=480))
    np.testing.assert_array_equal(roll, expected({C4: [0], G4: [0, 1, 2, 3]}, {C4: [0], G4: [0]}, 4))


def test_huge_delta_time_is_cut_quickly(midi_file):
    # one event ten hours into the song: the loader must neither loop per tick nor keep it all
    extra = [(480 * 2 * 60 * 60 * 10, mido.Message("control_change", control=7, value=100))]
    path = midi_file([(C4, 0, 120)], extra=extra)
    with pytest.warns(UserWarning, match="cut to 1000"):
        roll = roll_of(path, max_steps=1000)
    assert roll.shape == (1000, 16)
    assert roll.sum() == 2


def test_not_midi_raises_midi_error_naming_the_file(tmp_path):
    path = tmp_path / "notes.mid"
    path.write_bytes(b"this is not a MIDI file")
    with pytest.raises(mm.MidiError, match="notes.mid"):
        mm.midi_to_piano_roll(str(path))


def absolute_events(path):
    """[(tick, type, note)] of a MIDI file's note messages, note-on with velocity 0 as note_off."""
    out, tick = [], 0
    for msg in mido.merge_tracks(mido.MidiFile(path).tracks):
        tick += msg.time
        if msg.type in ("note_on", "note_off"):
            kind = "note_on" if msg.type == "note_on" and msg.velocity > 0 else "note_off"
            out.append((tick, kind, msg.note))
    return out


def test_piano_roll_to_midi_exact_events(tmp_path):
    roll = expected({C4: [0, 1, 2, 3], E4: [1, 2], G4: [3]}, {C4: [0, 2], E4: [1], G4: [3]}, 4)
    path = str(tmp_path / "out.mid")
    mm.piano_roll_to_midi(roll, path, lowest_note=LOW, tickscale=55)
    assert absolute_events(path) == [
        (0, "note_on", C4),
        (55, "note_on", E4),
        (110, "note_off", C4), (110, "note_on", C4),       # the articulate bit re-strikes C4
        (165, "note_off", E4), (165, "note_on", G4),
        (220, "note_off", C4), (220, "note_off", G4),      # the final note-offs
    ]
    mid = mido.MidiFile(path)
    assert mid.ticks_per_beat == 220
    assert mid.length == pytest.approx(4 * 0.125)          # four 16ths at 120 bpm


def test_articulate_without_play_is_ignored(tmp_path):
    roll = expected({C4: [1]}, {E4: [0], C4: [1]}, 2)
    path = str(tmp_path / "out.mid")
    mm.piano_roll_to_midi(roll, path, lowest_note=LOW)
    assert absolute_events(path) == [(55, "note_on", C4), (110, "note_off", C4)]


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    play = (rng.random((64, 8)) < 0.3).astype(np.uint8)
    onset = play & ~np.vstack([np.zeros((1, 8), np.uint8), play[:-1]]).astype(bool)
    strike = (onset | (play & (rng.random((64, 8)) < 0.2))).astype(np.uint8)
    roll = np.hstack([play, strike])
    roll[-1] = 0                                             # keep a silent last step: it must survive too
    path = str(tmp_path / "rt.mid")
    mm.piano_roll_to_midi(roll, path, lowest_note=LOW)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(roll_of(path), roll)


def test_rows_stack_steps_and_back():
    roll = np.arange(11 * 4).reshape(11, 4)
    rows = mm.piano_roll_to_rows(roll, 5)
    assert rows.shape == (2, 20)
    np.testing.assert_array_equal(rows[1, :4], roll[5])
    np.testing.assert_array_equal(mm.rows_to_piano_roll(rows, 4), roll[:10])


def test_any_roll_reads_back_as_its_canonical_form(tmp_path):
    # generated rolls may start notes without an articulate bit, or articulate silent keys
    rng = np.random.default_rng(1)
    roll = (rng.random((40, 16)) < 0.4).astype(np.uint8)
    path = str(tmp_path / "any.mid")
    mm.piano_roll_to_midi(roll, path, lowest_note=LOW)
    canonical = mm.canonical_piano_roll(roll)
    np.testing.assert_array_equal(roll_of(path), canonical)
    np.testing.assert_array_equal(canonical[:, :8], roll[:, :8])
    assert not (canonical[:, 8:] & ~canonical[:, :8]).any()


@pytest.mark.parametrize("name, play", [
    ("running_status.mid", {60: range(0, 4), 64: range(4, 8)}),
    ("format2_two_sequences.mid", {60: range(0, 4), 62: range(4, 8), 48: range(8, 12), 50: range(12, 16)}),
    ("overlapping.mid", {60: range(0, 6)}),
    ("out_of_range.mid", {60: range(4, 8)}),
    ("tpb_1.mid", {60: range(0, 16)}),
])
def test_exact_rolls_of_odd_but_valid_files(tmp_path, name, play):
    path = tmp_path / name
    path.write_bytes(midi_corpus.corpus()[name][0])
    roll = mm.midi_to_piano_roll(str(path))
    want = np.zeros((roll.shape[0], 78), np.uint8)
    for pitch, steps in play.items():
        want[list(steps), pitch - 24] = 1
    np.testing.assert_array_equal(roll[:, :78], want)
    if name == "overlapping.mid":
        assert roll[:, 78 + 36].nonzero()[0].tolist() == [0, 2]        # the second note-on re-articulates


def load_bytes(data, folder):
    path = os.path.join(folder, "fuzz.mid")
    with open(path, "wb") as f:
        f.write(data)
    start = time.time()
    try:
        roll = mm.midi_to_piano_roll(path, max_steps=20_000)
        assert roll.shape[0] <= 20_000 and roll.dtype == np.uint8
    except mm.MidiError as e:
        assert "fuzz.mid" in str(e)
    assert time.time() - start < 2.0


def mutate(data, edits):
    data = bytearray(data)
    for position, value, kind in edits:
        if not data:
            break
        i = position % len(data)
        if kind == 0:
            data[i] = value
        elif kind == 1:
            data.insert(i, value)
        elif kind == 2:
            del data[i]
        else:
            del data[i:]
    return bytes(data)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(tmp_path, data):
    load_bytes(data, str(tmp_path))
    load_bytes(b"MThd\x00\x00\x00\x06" + data, str(tmp_path))


@FUZZ
@given(st.sampled_from(sorted(midi_corpus.corpus())),
       st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.integers(0, 3)), max_size=6))
def test_fuzz_mutated_midi(tmp_path, name, edits):
    load_bytes(mutate(midi_corpus.corpus()[name][0], edits), str(tmp_path))
