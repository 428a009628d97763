"""Bad input never kills or hangs a run, and nothing a user made is lost."""
import logging
import os
import pickle
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import config
import datasets
import midi_corpus
import midi_manipulation as mm
from conftest import write_midi

HP = config.HParams(steps_per_rbm=2, max_song_steps=1000)


# --- the MIDI loader ------------------------------------------------------------------------

def test_malformed_corpus_is_skipped_file_by_file(tmp_path, caplog):
    midi_corpus.write_corpus(str(tmp_path))
    expected = {name: outcome for name, (_, outcome) in midi_corpus.corpus().items()}
    with caplog.at_level(logging.INFO):
        songs = datasets.load_songs(str(tmp_path), HP, cache_dir="")
    assert sorted(s.name for s in songs) == sorted(n for n, o in expected.items() if o in ("ok", "cut"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for name, outcome in expected.items():
        mine = [w for w in warnings if os.sep + name in w]
        if outcome == "ok":
            assert mine == []
        else:
            assert len(mine) == 1, (name, mine)                       # one warning, naming the file ...
            reason = {"cut": "cut to 1000", "unreadable": "", "no notes": "no notes", "too short": "too short"}[outcome]
            assert reason in mine[0]                                  # ... and the reason
    counts = pd.Series(expected).value_counts()
    summary = [r.getMessage() for r in caplog.records if r.getMessage().startswith("loaded")][0]
    assert f"skipped {counts['unreadable'] + counts['no notes'] + counts['too short']}" in summary
    assert f"{counts['unreadable']} unreadable" in summary and f"{counts['too short']} too short" in summary
    assert f"{counts['no notes']} no notes" in summary


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


# --- benchmark pickles ----------------------------------------------------------------------

class Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_pickle_that_imports_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps({"train": [[[60]]], "x": Exploit()}))
    with pytest.raises(ValueError, match="evil.pickle: refused.*tries to import"):
        datasets.load_pickle_dataset(str(path))
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("content, problem", [
    ([[[60]]], "wrong shape"),
    ({"train": [[60, 62]]}, "wrong shape in 'train' song 0"),
    ({"train": [[[60, 300]]]}, "wrong shape in 'train' song 0"),
    ({"train": "abc"}, "wrong shape"),
])
def test_pickle_of_the_wrong_shape_is_refused(tmp_path, content, problem):
    path = tmp_path / "odd.pickle"
    path.write_bytes(pickle.dumps(content, protocol=2))
    with pytest.raises(ValueError, match=problem):
        datasets.load_pickle_dataset(str(path))


def test_pickle_songs_become_piano_rolls(tmp_path):
    path = tmp_path / "tiny.pickle"
    path.write_bytes(pickle.dumps({"train": [[[60, 64], [60], [], [62, 200 - 100]]], "test": []}, protocol=2))
    hp = config.HParams(lowest_note=60, highest_note=63, steps_per_rbm=1)
    (song,) = datasets.load_data(str(path), hp, "train")
    np.testing.assert_array_equal(song.roll, [[1, 0, 0, 0, 1, 0, 0, 0],
                                              [1, 0, 0, 0, 0, 0, 0, 0],
                                              [0, 0, 0, 0, 0, 0, 0, 0],
                                              [0, 0, 1, 0, 0, 0, 1, 0]])
    with pytest.raises(ValueError, match="no split 'valid'"):
        datasets.load_data(str(path), hp, "valid")


# --- the cache ------------------------------------------------------------------------------

def test_interrupted_cache_write_is_never_trusted(tmp_path, monkeypatch):
    path = write_midi(str(tmp_path / "song.mid"), [(60, 0, 960)])
    cache = tmp_path / "cache"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(datasets.msgpack, "packb", interrupted)
    with pytest.raises(KeyboardInterrupt):
        datasets.load_song(path, HP, str(cache))
    monkeypatch.undo()
    assert list(cache.rglob("*.msgpack")) == []                         # no entry under the real name
    roll = datasets.load_song(path, HP, str(cache))
    assert roll[:, 36].sum() == 8 and len(list(cache.rglob("*.msgpack"))) == 1
