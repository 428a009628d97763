"""music_stats.py and music_features.py: features of tiny hand-built MIDI files, the comparison's
ceiling and floor, and the copying check."""
import re

import numpy as np
import pytest

import midi_manipulation
import music_features as mf
import music_stats
from conftest import write_midi

TICKS_PER_STEP = 120   # conftest.write_midi's 480 ticks per beat


def write_steps(path, notes):
    """A MIDI file of (pitch, first step, end step) notes."""
    return str(write_midi(path, [(p, s * TICKS_PER_STEP, e * TICKS_PER_STEP) for p, s, e in notes]))


def features_of_file(tmp_path, notes):
    return mf.song_features(*midi_manipulation.midi_to_notes(write_steps(tmp_path / "song.mid", notes)))


def test_every_feature_of_a_tiny_song_matches_hand_computed_values(tmp_path):
    # a C-E dyad for a quarter, G for an 8th, an 8th of silence, then C5 for a half note: one bar
    f = features_of_file(tmp_path, [(60, 0, 4), (64, 0, 4), (67, 4, 6), (72, 8, 16)])
    histogram = np.zeros(12)
    histogram[[0, 4, 7]] = [2, 1, 1]
    transitions = np.zeros((12, 12))
    transitions[0, 7] = transitions[4, 7] = transitions[7, 0] = 1      # {C, E} -> {G} -> {C}
    lengths = np.zeros(9)
    lengths[[3, 1, 5]] = [2, 1, 1]                                     # quarter x2, 8th, half
    length_moves = np.zeros((9, 9))
    length_moves[3, 3] = length_moves[3, 1] = length_moves[1, 5] = 1  # by start, then pitch
    expected = {
        "pitch_count": [4], "pitch_class_histogram": histogram / 4, "pitch_class_transitions": transitions.ravel() / 3,
        "pitch_range": [12], "average_pitch_interval": [5.0],        # mean pitches 62, 67, 72
        "note_count": [4], "average_inter_onset_interval": [4.0],   # onsets at 0, 4, 8
        "note_length_histogram": lengths / 4, "note_length_transitions": length_moves.ravel() / 3,
        "mean_polyphony": [(4 * 2 + 2 * 1 + 8 * 1) / 14],           # 14 sounding steps of 16
        "silent_fraction": [2 / 16], "key_fit": [1.0], "bar_repetition": [0.0],   # one bar: nothing before it
    }
    assert set(f) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(f[name], value, err_msg=name)


def test_key_fit_counts_the_notes_outside_the_best_key(tmp_path):
    scale = [60, 62, 64, 65, 67, 69, 71, 72]                           # C major, a quarter each
    notes = [(p, 4 * i, 4 * i + 4) for i, p in enumerate(scale)] + [(61, 32, 33)]   # and one short C#
    assert mf.best_key(np.array(notes)) == (0, "major")
    np.testing.assert_allclose(features_of_file(tmp_path, notes)["key_fit"], [8 / 9])


def test_bar_repetition_is_one_for_repeated_bars_and_zero_for_new_ones(tmp_path):
    bar = [(60, 0, 4), (64, 4, 8), (67, 8, 16)]
    shifted = lambda notes, bars, by=0: [(p + by, s + 16 * bars, e + 16 * bars) for p, s, e in notes]
    repeated = bar + shifted(bar, 1) + shifted(bar, 2)
    assert features_of_file(tmp_path, repeated)["bar_repetition"] == pytest.approx([1.0])
    assert features_of_file(tmp_path, bar + shifted(bar, 1, by=1))["bar_repetition"] == pytest.approx([0.0])
    half = bar + [(p, s + 16, e + 16) for p, s, e in bar[:2]] + [(70, 24, 32)]   # bar 2: bar 1's first half, then new
    cells = mf.bar_cells(np.array(half), 32)
    expected = len(cells[0] & cells[1]) / len(cells[0] | cells[1])
    assert features_of_file(tmp_path, half)["bar_repetition"] == pytest.approx([expected])
    assert 0 < expected < 1


def chorale_like(rng, n):
    """n songs of four-voice chords on quarter notes, 8 to 16 bars, in C major or A minor."""
    chords = {"major": [(48, 64, 67, 72), (53, 65, 69, 72), (55, 62, 67, 71), (57, 64, 69, 72)],
              "minor": [(45, 64, 69, 72), (50, 65, 69, 74), (52, 64, 68, 71), (53, 65, 69, 72)]}
    songs = []
    for _ in range(n):
        palette = chords["major" if rng.random() < 0.5 else "minor"]
        bars = int(rng.integers(8, 17))
        notes, step = [], 0
        while step < bars * 16:
            length = int(rng.choice([4, 4, 8, 2]))
            for pitch in palette[rng.integers(len(palette))]:
                notes.append((pitch, step, step + length))
            step += length
        songs.append((np.array(notes, np.int64), bars * 16))
    return songs


def test_identical_sets_score_the_ceiling_and_noise_or_silence_far_below():
    rng = np.random.default_rng(0)
    real = chorale_like(rng, 60)
    real_f = mf.set_features(real)
    ceiling = mf.compare(*mf.split_halves(real_f, rng)).mean_overlap
    same = mf.compare(real_f, real_f).mean_overlap
    assert ceiling > 0.8
    assert same >= ceiling - 0.05
    silence = [(np.zeros((0, 3), np.int64), 160) for _ in range(20)]
    noise = [(mf.roll_to_notes(rng.random((160, 128)) < 0.05, rng.random((160, 128)) < 0.05), 160) for _ in range(20)]
    for songs in (silence, noise):
        assert mf.compare(real_f, mf.set_features(songs)).mean_overlap < ceiling - 0.4
    floor = mf.compare(real_f, mf.set_features(mf.bernoulli_songs(real, [160] * 20, rng))).mean_overlap
    assert floor < ceiling - 0.2


def test_a_copied_transposed_passage_is_found_bar_for_bar():
    rng = np.random.default_rng(1)
    real = chorale_like(rng, 10)
    source_notes, _ = real[3]
    passage = source_notes[(source_notes[:, 1] >= 3 * 16) & (source_notes[:, 1] < 8 * 16)].copy()   # bars 4-8
    passage[:, 0] += 2                                                                             # up a tone
    passage[:, 1:] += (2 - 3) * 16                                                                 # now bars 3-7
    intro = np.array([[90, 0, 16], [91, 16, 32]])                                                  # nothing like the data
    outro = np.array([[95, 7 * 16, 8 * 16]])
    copy = (np.vstack([intro, passage, outro]), 8 * 16)
    other = chorale_like(np.random.default_rng(2), 3)
    bars, g, r = mf.longest_copied_run(other + [copy], real)
    assert (bars, g, r) == (5, 3, 3)
    assert mf.longest_copied_run([(intro, 32)], real)[0] == 0


def test_real_songs_are_matched_with_each_other_but_not_with_themselves():
    real = chorale_like(np.random.default_rng(1), 4)
    notes, _ = real[2]
    borrowed = notes[(notes[:, 1] >= 16) & (notes[:, 1] < 4 * 16)].copy()                          # bars 2-4
    borrowed[:, 0] -= 3
    borrowed[:, 1:] += (5 - 1) * 16                                                                # now bars 6-8
    own = np.array([[95, 0, 16], [93, 16, 32], [91, 32, 48], [90, 48, 64], [88, 64, 80]])          # nothing like the rest
    real.append((np.vstack([own, borrowed]), 8 * 16))
    runs = mf.copied_runs(real, real, among_themselves=True)
    assert runs[4] == (3, 2) and runs[2] == (3, 4)
    assert mf.copied_runs(real[4:], real)[0] == (8, 4)                                              # itself, whole


def test_windows_cut_songs_alike_and_keep_short_ones_whole():
    notes = np.array([[60, 0, 20], [62, 16, 17], [64, 40, 48], [65, 70, 80]])
    windows = mf.windows((notes, 80), 2)           # two windows of 32 steps; the last 16 steps dropped
    assert [n for _, n in windows] == [32, 32]
    np.testing.assert_array_equal(windows[0][0], [[60, 0, 20], [62, 16, 17]])
    np.testing.assert_array_equal(windows[1][0], [[64, 8, 16]])
    assert mf.windows((notes, 80), 10) == [(notes, 80)]


def write_set(folder, songs):
    folder.mkdir()
    for i, (notes, _) in enumerate(songs):
        write_steps(folder / f"{i}.mid", [tuple(map(int, n)) for n in notes])
    return str(folder)


def test_the_script_prints_the_table_draws_the_png_and_ends_with_the_summary(tmp_path, capsys):
    rng = np.random.default_rng(3)
    real = write_set(tmp_path / "real", chorale_like(rng, 16))
    generated = write_set(tmp_path / "generated", chorale_like(rng, 5))
    (tmp_path / "generated" / "broken.mid").write_bytes(b"MThd nonsense")
    music_stats.main([generated, "--real", real, "--quiet"])
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].split() == ["feature", "overlap", "KL", "real/real", "Bernoulli"]
    assert len(out) == 1 + len(mf.FEATURES) + 1 + 1
    assert re.fullmatch(r"overlap \d\.\d{3} \(real vs real \d\.\d{3}, independent Bernoulli \d\.\d{3}\), "
                        r"longest copied run \d+ bars", out[-1])
    assert (tmp_path / "generated" / "music_stats.png").stat().st_size > 0


def test_a_folder_without_midi_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no .mid"):
        music_stats.main([str(tmp_path / "empty"), "--real", str(tmp_path / "empty"), "--quiet"])
