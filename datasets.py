"""Songs for training: a folder of MIDI files, or a benchmark pickle, turned into piano rolls.

MIDI songs are cached with msgpack-numpy. Benchmark pickles (Boulanger-Lewandowski et al. 2012
layout: ``{'train': [song, ...], 'valid': ..., 'test': ...}``, a song being a list of frames and
a frame a list of MIDI pitches) are read with an unpickler that admits only builtin containers
and numbers, since a pickle can run code.
"""
import collections
import hashlib
import io
import json
import logging
import os
import pickle
import warnings

import glob2
import msgpack
import msgpack_numpy
import numpy as np
from tqdm import tqdm

import midi_manipulation

log = logging.getLogger(__name__)

DEFAULT_DATA = "Pop_Music_Midi"
# Chorales of the default data that training leaves out, so that a melody the Quick start's model
# never saw can be harmonized (docs/music.md): every 65th of its 325 files, from the 65th.
HELD_OUT = ("bach_bwv197_7-a.mid", "bach_bwv278.mid", "bach_bwv351.mid", "bach_bwv416.mid", "bach_bwv9_7.mid")
DEFAULT_CACHE = ".cache/piano_rolls"
CACHE_VERSION = 1          # bump when the conversion changes, so old cache entries are not trusted
MIDI_SUFFIXES = (".mid", ".midi")
PICKLE_SUFFIXES = (".pickle", ".pkl")

Song = collections.namedtuple("Song", ["name", "roll"])   # roll: uint8 [time, frame_size]


def find_midi_files(folder):
    """Every .mid/.midi file under `folder`, searched recursively, in a fixed (sorted) order."""
    paths = glob2.glob(os.path.join(folder, "**", "*"))
    return sorted(p for p in paths if p.lower().endswith(MIDI_SUFFIXES) and os.path.isfile(p))


def _cache_path(cache_dir, data, settings):
    key = hashlib.sha1(data + json.dumps(settings, sort_keys=True).encode()).hexdigest()
    return os.path.join(cache_dir, key[:2], key + ".msgpack")


def _read_cache(path):
    try:
        with open(path, "rb") as f:
            entry = msgpack.unpackb(f.read(), object_hook=msgpack_numpy.decode)
        roll = entry["roll"]
        if not isinstance(roll, np.ndarray) or roll.ndim != 2:
            raise ValueError("bad roll")
        return roll
    except FileNotFoundError:
        return None
    except Exception as e:  # a corrupt or foreign entry is rebuilt, never trusted
        log.warning("cache entry %s is unreadable (%s); rebuilding it", path, e)
        return None


def _write_cache(path, roll):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(msgpack.packb({"roll": roll}, default=msgpack_numpy.encode))
    os.replace(tmp, path)   # a reader sees the whole entry or none of it


def load_song(path, hp, cache_dir=DEFAULT_CACHE):
    """Piano roll of one MIDI file under the settings in `hp`, from the cache when it holds it.

    Raises midi_manipulation.MidiError when the file cannot be read.
    """
    settings = {"version": CACHE_VERSION, "lowest_note": hp.lowest_note, "highest_note": hp.highest_note,
                "articulation": hp.articulation, "max_song_steps": hp.max_song_steps}
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise midi_manipulation.MidiError(f"{path}: cannot be opened ({e})") from None
    cached = None
    if cache_dir:
        cache_file = _cache_path(cache_dir, data, settings)
        cached = _read_cache(cache_file)
    if cached is not None and cached.shape[1] == hp.frame_size:
        return cached
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        roll = midi_manipulation.midi_to_piano_roll(path, hp.lowest_note, hp.highest_note, hp.articulation,
                                                    hp.max_song_steps)
    for w in caught:
        log.warning("%s", w.message)
    if cache_dir:
        _write_cache(cache_file, roll)
    return roll


def is_default_data(folder):
    return os.path.abspath(folder) == os.path.abspath(DEFAULT_DATA)


def held_out_paths(folder=DEFAULT_DATA):
    """The default data's HELD_OUT chorales under `folder`, as paths (none for other folders)."""
    if not is_default_data(folder):
        return []
    return [p for p in find_midi_files(folder) if os.path.basename(p) in HELD_OUT]


def load_songs(folder, hp, cache_dir=DEFAULT_CACHE, min_rows=2):
    """Every usable song under `folder` as a list of Song; the default data's HELD_OUT chorales
    are left out.

    A file that cannot be read gives one warning naming it and the reason, and is skipped;
    so is a song shorter than `min_rows` RBM rows. The run ends with one summary line.
    """
    paths = find_midi_files(folder)
    if not paths:
        raise ValueError(f"no .mid or .midi files under {folder!r}; put MIDI files there or pass --data <folder>")
    held_out = [p for p in paths if os.path.basename(p) in HELD_OUT] if is_default_data(folder) else []
    if held_out:
        log.info("leaving out %d chorales held out for harmonization: %s", len(held_out),
                 ", ".join(os.path.basename(p) for p in held_out))
        paths = [p for p in paths if p not in held_out]
    songs, skipped = [], collections.Counter()
    quiet = len(paths) < 20 or not log.isEnabledFor(logging.INFO)
    for path in tqdm(paths, desc="loading songs", unit="song", leave=False, disable=quiet):
        try:
            roll = load_song(path, hp, cache_dir)
        except midi_manipulation.MidiError as e:
            log.warning("skipping %s", e)
            skipped["unreadable"] += 1
            continue
        if not roll[:, :hp.n_notes].any():
            log.warning("skipping %s: no notes in %d..%d", path, hp.lowest_note, hp.highest_note)
            skipped["no notes"] += 1
        elif roll.shape[0] // hp.steps_per_rbm < min_rows:
            log.warning("skipping %s: %d steps is too short for %d rows of %d steps",
                        path, roll.shape[0], min_rows, hp.steps_per_rbm)
            skipped["too short"] += 1
        else:
            songs.append(Song(os.path.relpath(path, folder), roll))
    frames = sum(song.roll.shape[0] for song in songs)
    reasons = ", ".join(f"{n} {why}" for why, n in skipped.most_common())
    log.info("loaded %d songs (%s frames) from %s, skipped %d%s", len(songs), f"{frames:,}", folder,
             sum(skipped.values()), f": {reasons}" if reasons else "")
    if not songs:
        raise ValueError(f"none of the {len(paths)} MIDI files under {folder!r} is usable (see the warnings above); "
                         "add readable MIDI songs with notes in range, or pass --data <folder>")
    return songs


def songs_to_rows(songs, hp):
    """RBM rows of each song: a list of float32 [n_rows, n_visible]."""
    return [midi_manipulation.piano_roll_to_rows(song.roll, hp.steps_per_rbm).astype(np.float32) for song in songs]


def ensure_default_data(folder):
    """Fill the default data folder with Bach chorales on first use, if it holds no MIDI files."""
    if not is_default_data(folder) or find_midi_files(folder):
        return
    log.info("%s holds no MIDI files: building the default data set from music21's Bach chorales", folder)
    build_default_data(folder)


def is_four_voice_common_time(score):
    """True for a score of four parts whose every time signature is 4/4."""
    if len(score.parts) != 4:
        return False
    signatures = score.recurse().getElementsByClass("TimeSignature")
    return len(signatures) > 0 and all(ts.ratioString == "4/4" for ts in signatures)


def build_default_data(out, limit=None):
    """Write every 4/4 four-voice Bach chorale of music21's corpus to `out`; return how many."""
    from music21 import corpus   # heavy; only needed here

    os.makedirs(out, exist_ok=True)
    paths = sorted(corpus.getComposer("bach"), key=str)
    written, done = 0, set()
    for path in tqdm(paths, desc="Bach chorales", unit="file"):
        name = os.path.splitext(os.path.basename(str(path)))[0]
        target = os.path.join(out, f"bach_{name.replace('.', '_')}.mid")
        if not name.startswith("bwv") or target in done:   # some chorales are in the corpus twice (.krn and .mxl)
            continue
        done.add(target)
        tmp = target + ".tmp"
        try:
            score = corpus.parse(path)
            if not is_four_voice_common_time(score):
                continue
            score.write("midi", fp=tmp)
        except Exception as e:  # a corpus file music21 itself cannot convert is left out, loudly
            log.warning("skipping %s: music21 cannot convert it (%s)", path, e)
            if os.path.exists(tmp):
                os.remove(tmp)
            continue
        os.replace(tmp, target)
        written += 1
        if limit and written >= limit:
            break
    log.info("wrote %d chorales to %s", written, out)
    return written


class _BuiltinsOnlyUnpickler(pickle.Unpickler):
    """Admits dicts, lists, tuples, strings and numbers; refuses to import anything."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"it tries to import {module}.{name}")


def is_pickle_dataset(source):
    return source.lower().endswith(PICKLE_SUFFIXES)


def load_pickle_dataset(path):
    """{split: [song, ...]} of a benchmark pickle; a song is a list of frames of MIDI pitches.

    Raises ValueError, naming the file and the problem, for a pickle that tries to import
    anything or is not laid out this way.
    """
    try:
        with open(path, "rb") as f:
            data = _BuiltinsOnlyUnpickler(io.BytesIO(f.read()), encoding="latin1").load()
    except OSError as e:
        raise ValueError(f"{path}: cannot be opened ({e}); check the path") from None
    except pickle.UnpicklingError as e:
        raise ValueError(f"{path}: refused to load this pickle: {e}. Only plain lists of pitches are "
                         "accepted; pass a dataset in the benchmark layout") from None
    except Exception as e:  # truncated or not a pickle at all
        raise ValueError(f"{path}: not a readable pickle ({type(e).__name__}: {e}); "
                         "pass a dataset in the benchmark layout") from None
    layout = "expected {'train': [song, ...], ...} with a song a list of frames and a frame a list of MIDI pitches"
    if not isinstance(data, dict) or not data or not all(isinstance(v, list) for v in data.values()):
        raise ValueError(f"{path}: wrong shape: {layout}")
    for split, songs in data.items():
        for i, song in enumerate(songs):
            if not isinstance(song, (list, tuple)) or not all(
                    isinstance(frame, (list, tuple)) and all(isinstance(p, int) and 0 <= p <= 127 for p in frame)
                    for frame in song):
                raise ValueError(f"{path}: wrong shape in {split!r} song {i}: {layout}")
    return data


def load_pickle_rolls(path, split, hp, strict_range=False, data=None):
    """Piano rolls (uint8 [time, hp.frame_size], one step a frame) of every song of one split of
    the benchmark pickle at `path`, in hp's layout: the one place a pickle becomes piano rolls.

    Pitches outside hp's keys are dropped; with `strict_range` they are a ValueError instead
    (a likelihood over the keys would leave them out). `data`: the pickle's contents, when the caller
    has loaded them already (load_pickle_dataset)."""
    data = load_pickle_dataset(path) if data is None else data
    if split not in data:
        raise ValueError(f"{path} has no split {split!r}; it has {', '.join(map(repr, data))}. Pass --split")
    pitches = [p for song in data[split] for frame in song for p in frame]
    if strict_range and pitches and not hp.lowest_note <= min(pitches) <= max(pitches) <= hp.highest_note:
        raise ValueError(f"{path} [{split}] has pitches {min(pitches)}..{max(pitches)}, outside the model's "
                         f"{hp.lowest_note}..{hp.highest_note}, so its likelihood is undefined; train with --preset paper")
    return [midi_manipulation.pitch_frames_to_piano_roll(frames, hp.lowest_note, hp.highest_note, hp.articulation)
            for frames in data[split]]


def load_pickle_songs(path, hp, split):
    """Songs of one split of a benchmark pickle, as piano rolls under the settings in `hp`."""
    songs = [Song(f"{split}/{i}", roll[:hp.max_song_steps])
             for i, roll in enumerate(load_pickle_rolls(path, split, hp))]
    songs = [song for song in songs if len(song.roll) >= hp.steps_per_rbm]
    if not songs:
        raise ValueError(f"{path}: split {split!r} has no song of at least {hp.steps_per_rbm} frames")
    log.info("loaded %d songs (%s frames) from %s [%s]", len(songs), f"{sum(len(s.roll) for s in songs):,}",
             path, split)
    return songs


def load_data(source, hp, split="train", cache_dir=DEFAULT_CACHE):
    """Songs from a folder of MIDI files or from one split of a benchmark pickle."""
    if is_pickle_dataset(source):
        return load_pickle_songs(source, hp, split)
    ensure_default_data(source)
    return load_songs(source, hp, cache_dir)
