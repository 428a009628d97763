"""Songs for training: a folder of MIDI files turned into piano rolls, cached with msgpack-numpy."""
import collections
import hashlib
import json
import logging
import os
import warnings

import glob2
import msgpack
import msgpack_numpy
import numpy as np
from tqdm import tqdm

import midi_manipulation

log = logging.getLogger(__name__)

DEFAULT_DATA = "Pop_Music_Midi"
DEFAULT_CACHE = ".cache/piano_rolls"
CACHE_VERSION = 1          # bump when the conversion changes, so old cache entries are not trusted
MIDI_SUFFIXES = (".mid", ".midi")

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


def load_songs(folder, hp, cache_dir=DEFAULT_CACHE, min_rows=2):
    """Every usable song under `folder` as a list of Song.

    A file that cannot be read gives one warning naming it and the reason, and is skipped;
    so is a song shorter than `min_rows` RBM rows. The run ends with one summary line.
    """
    paths = find_midi_files(folder)
    if not paths:
        raise ValueError(f"no .mid or .midi files under {folder!r}; put MIDI files there or pass --data <folder>")
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
    if os.path.abspath(folder) != os.path.abspath(DEFAULT_DATA) or find_midi_files(folder):
        return
    import make_default_data
    log.info("%s holds no MIDI files: building the default data set from music21's Bach chorales", folder)
    make_default_data.build(folder)
