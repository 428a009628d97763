"""How much a set of songs resembles another: per-song musical features and the set-to-set
comparison of Yang & Lerch (2020), "On the evaluation of generative models in music" (MGEval).

A song is its notes on the 16th-note grid, as midi_manipulation.midi_to_notes reads them:
`notes` [n_notes, 3] of (MIDI pitch, first step, end step), end exclusive, and `n_steps`.
Chords are the rule here (four-voice chorales), so where MGEval walks from one note to the next,
these features walk from one onset (the notes that start on one step) to the next.

Comparison: for each feature, the distances between the songs of the real set (intra-set) and
between each real and each generated song (inter-set), each smoothed by a Gaussian kernel
density estimate; the overlapped area of the two densities (1: the generated songs sit among
the real ones as the real ones sit among themselves) and KL(intra || inter).
"""
import collections

import numpy as np

import midi_manipulation

STEPS_PER_BAR = 16                                  # 4/4 on the 16th-note grid
NOTE_LENGTHS = (1, 2, 3, 4, 6, 8, 12, 16)           # 16th, 8th, dotted 8th, quarter, ... whole; then "longer"
# Krumhansl & Kessler (1982) key profiles, tonic first
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 9, 10, 11)         # natural minor with the raised 6th and 7th
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
GRID = 512                                          # points of each density


def onsets(notes):
    """[(step, pitches starting there)] in time order."""
    groups = collections.defaultdict(list)
    for pitch, start, _ in notes:
        groups[int(start)].append(int(pitch))
    return sorted(groups.items())


def in_order(notes):
    """The notes by start, then pitch."""
    return notes[np.lexsort((notes[:, 0], notes[:, 1]))] if len(notes) else notes


def length_class(length):
    """Index into NOTE_LENGTHS of the nearest length (on a log scale); len(NOTE_LENGTHS) if longer."""
    if length > NOTE_LENGTHS[-1]:
        return len(NOTE_LENGTHS)
    return int(np.argmin(np.abs(np.log2(NOTE_LENGTHS) - np.log2(length))))


def normalised(counts):
    total = counts.sum()
    return counts / total if total else counts


def sounding(notes, n_steps):
    """[n_steps] count of the notes sounding at each step."""
    change = np.zeros(n_steps + 1)
    np.add.at(change, np.minimum(notes[:, 1], n_steps), 1)
    np.add.at(change, np.minimum(notes[:, 2], n_steps), -1)
    return np.cumsum(change)[:n_steps]


def pitch_count(notes, n_steps):
    return [len(np.unique(notes[:, 0]))]


def pitch_class_histogram(notes, n_steps):
    return normalised(np.bincount(notes[:, 0] % 12, minlength=12).astype(float))


def pitch_class_transitions(notes, n_steps):
    """12 x 12, flattened: from every pitch class of an onset to every one of the next onset."""
    counts = np.zeros((12, 12))
    groups = [pitches for _, pitches in onsets(notes)]
    for now, then in zip(groups, groups[1:]):
        for a in now:
            for b in then:
                counts[a % 12, b % 12] += 1
    return normalised(counts).ravel()


def pitch_range(notes, n_steps):
    return [float(notes[:, 0].max() - notes[:, 0].min()) if len(notes) else 0.0]


def average_pitch_interval(notes, n_steps):
    """Mean absolute change of the mean pitch from one onset to the next, in semitones."""
    means = [np.mean(pitches) for _, pitches in onsets(notes)]
    return [float(np.mean(np.abs(np.diff(means)))) if len(means) > 1 else 0.0]


def note_count(notes, n_steps):
    return [float(len(notes))]


def average_inter_onset_interval(notes, n_steps):
    """Mean steps from one onset to the next."""
    steps = [step for step, _ in onsets(notes)]
    return [float(np.mean(np.diff(steps))) if len(steps) > 1 else 0.0]


def note_length_histogram(notes, n_steps):
    classes = [length_class(end - start) for _, start, end in notes]
    return normalised(np.bincount(classes, minlength=len(NOTE_LENGTHS) + 1).astype(float))


def note_length_transitions(notes, n_steps):
    """(classes + 1)^2, flattened: length class of each note to that of the next, notes by start then pitch."""
    n = len(NOTE_LENGTHS) + 1
    classes = [length_class(end - start) for _, start, end in in_order(notes)]
    counts = np.zeros((n, n))
    for a, b in zip(classes, classes[1:]):
        counts[a, b] += 1
    return normalised(counts).ravel()


def mean_polyphony(notes, n_steps):
    """Mean number of notes sounding, over the steps where any does."""
    count = sounding(notes, n_steps)
    return [float(count[count > 0].mean()) if (count > 0).any() else 0.0]


def silent_fraction(notes, n_steps):
    return [float((sounding(notes, n_steps) == 0).mean()) if n_steps else 1.0]


def best_key(notes):
    """(tonic pitch class, 'major' or 'minor') whose Krumhansl-Kessler profile correlates best
    with the song's pitch classes weighted by duration (Krumhansl-Schmuckler)."""
    weights = np.bincount(notes[:, 0] % 12, weights=notes[:, 2] - notes[:, 1], minlength=12)
    best = max(((np.corrcoef(weights, np.roll(profile, tonic))[0, 1], tonic, mode)
                for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)) for tonic in range(12)),
               key=lambda c: (np.nan_to_num(c[0], nan=-2.0), -c[1]))
    return best[1], best[2]


def key_fit(notes, n_steps):
    """Fraction of the notes whose pitch class is in the scale of the song's best key."""
    if not len(notes) or len(np.unique(notes[:, 0] % 12)) < 2:
        return [1.0 if len(notes) else 0.0]
    tonic, mode = best_key(notes)
    scale = {(tonic + degree) % 12 for degree in (MAJOR_SCALE if mode == "major" else MINOR_SCALE)}
    return [float(np.mean([pitch % 12 in scale for pitch in notes[:, 0]]))]


def bar_cells(notes, n_steps):
    """[set of (step in bar, pitch) sounding] per bar of STEPS_PER_BAR steps."""
    play = midi_manipulation.notes_to_piano_roll(notes, n_steps, 0, 127, articulation=False)
    bars = [set() for _ in range(-(-n_steps // STEPS_PER_BAR))]
    for step, pitch in zip(*np.nonzero(play)):
        bars[step // STEPS_PER_BAR].add((int(step) % STEPS_PER_BAR, int(pitch)))
    return bars


def bar_repetition(notes, n_steps):
    """Mean, over the non-silent bars after the first, of the largest Jaccard similarity of the
    bar's sounding cells to an earlier bar's (1: every bar repeats an earlier one)."""
    bars = [bar for bar in bar_cells(notes, n_steps) if bar]
    if len(bars) < 2:
        return [0.0]
    return [float(np.mean([max(len(bar & old) / len(bar | old) for old in bars[:i])
                           for i, bar in enumerate(bars) if i]))]


def summary_line(notes, n_steps):
    """One line about a song: notes per bar, polyphony, silent steps, key fit (and the key), bar repetition."""
    notes = np.asarray(notes, np.int64).reshape(-1, 3)
    key = ""
    if len(notes):
        tonic, mode = best_key(notes)
        key = f" ({NOTE_NAMES[tonic]} {mode})"
    bars = max(n_steps, 1) / STEPS_PER_BAR
    return (f"{len(notes) / bars:.1f} notes/bar, polyphony {mean_polyphony(notes, n_steps)[0]:.2f}, "
            f"silent {100 * silent_fraction(notes, n_steps)[0]:.0f}%, key fit {key_fit(notes, n_steps)[0]:.2f}{key}, repetition {bar_repetition(notes, n_steps)[0]:.2f}")


FEATURES = collections.OrderedDict((f.__name__, f) for f in (
    pitch_count, pitch_class_histogram, pitch_class_transitions, pitch_range, average_pitch_interval,
    note_count, average_inter_onset_interval, note_length_histogram, note_length_transitions,
    mean_polyphony, silent_fraction, key_fit, bar_repetition))


def windows(song, bars):
    """The song (notes, n_steps) cut into consecutive windows of `bars` bars, each starting at
    step 0; a remainder shorter than a window is dropped, and a song shorter than one window is
    one window. Counts such as notes or pitches grow with length, so sets are compared window
    by window."""
    notes, n_steps = song
    size = bars * STEPS_PER_BAR
    if n_steps <= size:
        return [song]
    out = []
    for start in range(0, n_steps - size + 1, size):
        inside = notes[(notes[:, 1] >= start) & (notes[:, 1] < start + size)].copy()
        inside[:, 1:] -= start
        inside[:, 2] = np.minimum(inside[:, 2], size)
        out.append((inside, size))
    return out


def median_bars(songs):
    """The window music_stats.py compares in: the median length of `songs` ((notes, n_steps)), in bars."""
    return max(1, int(np.median([n_steps for _, n_steps in songs])) // STEPS_PER_BAR)


def windowed_features(songs, bars):
    """set_features of every window of `bars` bars of `songs`."""
    return set_features([window for song in songs for window in windows(song, bars)])


def song_features(notes, n_steps):
    """{feature name: 1-D array} of one song."""
    notes = np.asarray(notes, np.int64).reshape(-1, 3)
    return {name: np.asarray(f(notes, n_steps), float) for name, f in FEATURES.items()}


def set_features(songs):
    """{feature name: [songs, size]} of a list of (notes, n_steps)."""
    per_song = [song_features(notes, n_steps) for notes, n_steps in songs]
    return {name: np.stack([f[name] for f in per_song]) for name in FEATURES}


def intra_distances(a):
    """Euclidean distances between every two rows of a ([n, size]), each pair once."""
    i, j = np.triu_indices(len(a), 1)
    return np.linalg.norm(a[i] - a[j], axis=-1)


def inter_distances(a, b):
    """Euclidean distances from every row of a to every row of b."""
    return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1).ravel()


def densities(x, y):
    """(grid, density of x, density of y): Gaussian kernel density estimates, each with
    Silverman's bandwidth, on one grid, binned (a histogram on the grid convolved with the
    kernel) so that tens of thousands of distances cost little."""
    both = np.concatenate([x, y])
    spread = both.max() - both.min()
    widths = [1.06 * max(d.std(), 1e-3 * (spread or 1.0)) * len(d) ** -0.2 for d in (x, y)]
    low, high = both.min() - 4 * max(widths), both.max() + 4 * max(widths)
    grid = np.linspace(low, high, GRID)
    step = grid[1] - grid[0]
    out = []
    for d, width in zip((x, y), widths):
        counts = np.histogram(d, bins=GRID, range=(low - step / 2, high + step / 2))[0].astype(float)
        half = min(GRID // 2 - 1, int(np.ceil(4 * width / step)))     # the kernel no longer than the grid
        kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * step / width) ** 2)
        density = np.convolve(counts, kernel, mode="same")
        out.append(density / (density.sum() * step))
    return grid, out[0], out[1]


def overlap_and_kl(grid, p, q):
    """(overlapped area, KL(p || q) in nats) of two densities on one grid."""
    step = grid[1] - grid[0]
    floor = 1e-12
    return float(np.minimum(p, q).sum() * step), float((p * np.log((p + floor) / (q + floor))).sum() * step)


Comparison = collections.namedtuple("Comparison", [
    "overlap",      # {feature: overlapped area of intra(reference) and inter(reference, other)}
    "kl",           # {feature: KL(intra || inter), nats}
    "mean_overlap", # the mean of `overlap` over the features: the summary figure
    "curves",       # {feature: (grid, intra density, inter density)}, for the picture
])


def compare(reference, other):
    """Compare the set_features `other` with `reference`, feature by feature."""
    overlap, kl, curves = {}, {}, {}
    for name in FEATURES:
        curves[name] = densities(intra_distances(reference[name]), inter_distances(reference[name], other[name]))
        overlap[name], kl[name] = overlap_and_kl(*curves[name])
    return Comparison(overlap, kl, float(np.mean(list(overlap.values()))), curves)


def split_halves(features, rng):
    """Two random halves of a set's features (the ceiling: real against real)."""
    n = len(next(iter(features.values())))
    order = rng.permutation(n)
    return ({name: f[order[:n // 2]] for name, f in features.items()},
            {name: f[order[n // 2:]] for name, f in features.items()})


def roll_to_notes(play, strike):
    """Notes of a piano roll of play and strike bits ([steps, 128] each, bool, MIDI pitch columns):
    a note starts where a key starts playing or is struck again while playing."""
    steps = len(play)
    was = np.vstack([np.zeros((1, 128), bool), play[:-1]])
    starts = play & (~was | strike)
    notes = []
    for pitch in range(128):
        on = np.flatnonzero(starts[:, pitch])
        for k, start in enumerate(on):
            end = start + 1
            limit = on[k + 1] if k + 1 < len(on) else steps
            while end < limit and play[end, pitch]:
                end += 1
            notes.append((pitch, start, end))
    return np.array(notes, np.int64).reshape(-1, 3)


def bernoulli_songs(songs, lengths, rng):
    """Songs drawn frame by frame from the independent-Bernoulli model of `songs`: every
    (step, pitch) plays, and is struck, with its probability over all of their steps."""
    on, steps = np.zeros(256), 0                  # play bits, then strike bits, of MIDI pitches 0..127
    for notes, n_steps in songs:
        on += midi_manipulation.notes_to_piano_roll(notes, n_steps, 0, 127).sum(0)
        steps += n_steps
    play_p, strike_p = np.split(on / max(steps, 1), 2)
    out = []
    for n_steps in lengths:
        play = rng.random((n_steps, 128)) < play_p
        strike = rng.random((n_steps, 128)) < strike_p
        out.append((roll_to_notes(play, strike), n_steps))
    return out


def copied_runs(songs, real, among_themselves=False):
    """[(bars, real song index)] per song of `songs`: the longest run of consecutive bars it shares
    with a real song, both bar-aligned, under one transposition for the whole run. Silent bars
    share nothing. With `among_themselves`, `songs` is `real` and no song is matched with itself."""
    def keyed(song):
        keys = []
        for bar in bar_cells(*song):
            if not bar:
                keys.append(None)
                continue
            low = min(pitch for _, pitch in bar)
            keys.append((frozenset((step, pitch - low) for step, pitch in bar), low))
        return keys

    where = collections.defaultdict(list)    # bar shape -> [(real song, bar, lowest pitch)]
    for s, song in enumerate(real):
        for b, key in enumerate(keyed(song)):
            if key is not None:
                where[key[0]].append((s, b, key[1]))
    out = []
    for g, song in enumerate(songs):
        best = (0, None)
        runs = {}                             # (real song, bar, transposition) -> run ending there
        for key in keyed(song):
            now = {}
            if key is not None:
                for s, b, low in where.get(key[0], ()):
                    if among_themselves and s == g:
                        continue
                    t = low - key[1]
                    now[s, b, t] = runs.get((s, b - 1, t), 0) + 1
                    if now[s, b, t] > best[0]:
                        best = (now[s, b, t], s)
            runs = now
        out.append(best)
    return out


def longest_copied_run(generated, real):
    """(bars, generated song index, real song index) of the longest run of copied_runs."""
    runs = copied_runs(generated, real)
    g = max(range(len(runs)), key=lambda i: runs[i][0], default=None)
    return (0, None, None) if g is None or runs[g][0] == 0 else (runs[g][0], g, runs[g][1])
