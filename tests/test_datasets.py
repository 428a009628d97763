"""Finding, loading, caching and skipping songs."""
import logging
import os
import pickle

import numpy as np
import pandas as pd
import pytest

import config
import datasets
import midi_corpus
from config import HParams
from conftest import write_midi

HP = HParams(lowest_note=60, highest_note=67, steps_per_rbm=2)
CORPUS_HP = HParams(steps_per_rbm=2, max_song_steps=1000)   # the malformed-MIDI corpus's settings
SONG = [(60, 0, 480), (64, 480, 960)]


def test_find_midi_files_is_recursive_and_sorted(tmp_path):
    for name in ["b.mid", "a/z.MIDI", "a/c.midi", "notes.txt", "c.mid.bak"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = [os.path.relpath(p, tmp_path) for p in datasets.find_midi_files(str(tmp_path))]
    assert found == ["a/c.midi", "a/z.MIDI", "b.mid"]


def test_bad_files_are_skipped_with_a_warning_and_counted(tmp_path, caplog):
    write_midi(str(tmp_path / "good.mid"), SONG)
    (tmp_path / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    write_midi(str(tmp_path / "short.mid"), [(60, 0, 120)])
    write_midi(str(tmp_path / "high.mid"), [(100, 0, 960)])
    with caplog.at_level(logging.INFO):
        songs = datasets.load_songs(str(tmp_path), HP, cache_dir="")
    assert [s.name for s in songs] == ["good.mid"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert any("broken.mid" in w for w in warnings)
    assert any("short.mid" in w and "too short" in w for w in warnings)
    assert any("high.mid" in w and "no notes" in w for w in warnings)
    assert "loaded 1 songs (8 frames)" in caplog.text and "skipped 3" in caplog.text


def test_folder_without_usable_songs_says_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="no .mid or .midi files"):
        datasets.load_songs(str(tmp_path), HP)
    (tmp_path / "x.mid").write_bytes(b"nope")
    with pytest.raises(ValueError, match="none of the 1 MIDI files"):
        datasets.load_songs(str(tmp_path), HP, cache_dir="")


def cache_files(cache):
    return sorted(str(p) for p in cache.rglob("*.msgpack"))


def test_cache_is_used_keyed_on_settings_and_rebuilt_when_corrupt(tmp_path, monkeypatch):
    path = write_midi(str(tmp_path / "song.mid"), SONG)
    cache = tmp_path / "cache"
    roll = datasets.load_song(path, HP, str(cache))
    assert len(cache_files(cache)) == 1
    calls = []
    real = datasets.midi_manipulation.midi_to_piano_roll
    monkeypatch.setattr(datasets.midi_manipulation, "midi_to_piano_roll",
                        lambda *a, **k: calls.append(a) or real(*a, **k))
    np.testing.assert_array_equal(datasets.load_song(path, HP, str(cache)), roll)
    assert calls == []                                            # served from the cache
    other = datasets.load_song(path, HP.replace(articulation=False), str(cache))
    assert other.shape == (8, 8) and len(calls) == 1              # other settings, other entry
    assert len(cache_files(cache)) == 2
    for entry in cache_files(cache):
        with open(entry, "wb") as f:
            f.write(b"\x93corrupt")
    np.testing.assert_array_equal(datasets.load_song(path, HP, str(cache)), roll)
    assert len(calls) == 2                                        # rebuilt, not trusted


def test_songs_to_rows(tmp_path):
    write_midi(str(tmp_path / "song.mid"), SONG)
    rows = datasets.songs_to_rows(datasets.load_songs(str(tmp_path), HP, cache_dir=""), HP)
    assert len(rows) == 1 and rows[0].shape == (4, 2 * 16) and rows[0].dtype == np.float32


def test_default_data_is_built_from_music21_bach_chorales(tmp_path):
    assert datasets.build_default_data(str(tmp_path), limit=2) == 2
    paths = datasets.find_midi_files(str(tmp_path))
    assert len(paths) == 2 and all(os.path.basename(p).startswith("bach_bwv") for p in paths)
    for path in paths:
        roll = datasets.load_song(path, HParams(), cache_dir="")
        voices = roll[:, :78].sum(axis=1)
        assert len(roll) > 64 and voices.max() == 4 and np.median(voices) == 4   # four voices, mostly all sounding


def test_empty_default_folder_is_filled_on_first_use(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    built = []
    monkeypatch.setattr(datasets, "build_default_data",
                        lambda out: built.append(out) or write_midi(os.path.join(out, "x.mid"), SONG))
    os.makedirs(datasets.DEFAULT_DATA)
    datasets.ensure_default_data(datasets.DEFAULT_DATA)
    datasets.ensure_default_data(datasets.DEFAULT_DATA)      # the second time there is MIDI: nothing to do
    datasets.ensure_default_data("elsewhere")                 # a user's folder is never filled
    assert built == [datasets.DEFAULT_DATA]


def test_malformed_corpus_is_skipped_file_by_file(tmp_path, caplog):
    midi_corpus.write_corpus(str(tmp_path))
    expected = {name: outcome for name, (_, outcome) in midi_corpus.corpus().items()}
    with caplog.at_level(logging.INFO):
        songs = datasets.load_songs(str(tmp_path), CORPUS_HP, cache_dir="")
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


def test_interrupted_cache_write_is_never_trusted(tmp_path, monkeypatch):
    path = write_midi(str(tmp_path / "song.mid"), [(60, 0, 960)])
    cache = tmp_path / "cache"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(datasets.msgpack, "packb", interrupted)
    with pytest.raises(KeyboardInterrupt):
        datasets.load_song(path, CORPUS_HP, str(cache))
    monkeypatch.undo()
    assert list(cache.rglob("*.msgpack")) == []                         # no entry under the real name
    roll = datasets.load_song(path, CORPUS_HP, str(cache))
    assert roll[:, 36].sum() == 8 and len(list(cache.rglob("*.msgpack"))) == 1
