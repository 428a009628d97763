"""--harmonize: melodies read from hand-built MIDI, the clamps they give, the constraint on every
generated step for every model and cell, and the harmonizations' distribution against the exact
conditional of tiny models."""
import itertools
import os

import numpy as np
import pytest

import config
import harmonize
import midi_manipulation
import rnn_rbm
import rnn_rbm_generate
import weight_initializations
from config import HParams
from conftest import run_cli, write_midi
from tf1 import tf

Q = 120      # ticks per 16th note at 480 per beat
# 5 keys (60..64), play and articulate bits, two steps per row: n_visible 20
HP = HParams(lowest_note=60, highest_note=64, steps_per_rbm=2)


def test_the_top_line_of_a_file_with_chords_is_the_melody_struck_where_it_starts_or_changes(midi_file):
    path = midi_file([(62, 0, 2 * Q), (60, 0, 4 * Q), (64, 2 * Q, 3 * Q), (64, 3 * Q, 4 * Q), (61, 5 * Q, 6 * Q)])
    melody = harmonize.read_melody(path, HP)
    np.testing.assert_array_equal(melody.pitch, [62, 62, 64, 64, harmonize.REST, 61])
    np.testing.assert_array_equal(melody.struck, [1, 0, 1, 1, 0, 1])   # step 3: 64 again; 60 held under it
    assert melody.chords and melody.shift == 0
    assert "its top line is the melody" in harmonize.describe(melody, path)


def test_a_melody_off_the_keys_moves_by_the_nearest_whole_octaves_and_says_so(midi_file):
    melody = harmonize.read_melody(midi_file([(74, 0, Q), (76, Q, 2 * Q)]), HP)
    np.testing.assert_array_equal(melody.pitch, [62, 64])
    assert melody.shift == -12 and not melody.chords
    assert "moved -12 semitones (-1 octaves)" in harmonize.describe(melody, "x.mid")
    assert harmonize.read_melody(midi_file([(37, 0, Q)], name="low.mid"), HP).shift == 24


def test_clamps_hold_the_tune_and_everything_above_it_and_rest_below_its_last_note(midi_file):
    # 61 (struck), 61 held, a rest, 63: three rows of two steps, the last padded with a rest
    melody = harmonize.read_melody(midi_file([(61, 0, 2 * Q), (63, 3 * Q, 4 * Q)]), HP)
    mask, values = harmonize.clamp_steps(melody, HP)
    #                     play bits of keys 60..64, then articulate bits
    np.testing.assert_array_equal(mask, [[0, 1, 1, 1, 1, 0, 1, 1, 1, 1],
                                         [0, 1, 1, 1, 1, 0, 1, 1, 1, 1],
                                         [0, 1, 1, 1, 1, 0, 1, 1, 1, 1],      # rest: 61 and above stay off
                                         [0, 0, 0, 1, 1, 0, 0, 0, 1, 1]])
    np.testing.assert_array_equal(values, [[0, 1, 0, 0, 0, 0, 1, 0, 0, 0],
                                           [0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
                                           [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                                           [0, 0, 0, 1, 0, 0, 0, 0, 1, 0]])
    row_mask, row_values = harmonize.clamp_rows(melody, HP)
    assert row_mask.shape == row_values.shape == (2, HP.n_visible)
    np.testing.assert_array_equal(row_mask.reshape(4, 10), mask)
    paper = HP.replace(articulation=False, steps_per_rbm=1)
    np.testing.assert_array_equal(harmonize.clamp_steps(melody, paper)[1], values[:, :5])


def test_a_melody_before_its_first_note_keeps_below_that_note():
    melody = harmonize.Melody(pitch=np.array([-1, -1, 63, -1]), struck=np.array([0, 0, 1, 0], bool), shift=0,
                              chords=False)
    np.testing.assert_array_equal(harmonize.ceilings(melody), [63, 63, 63, 63])


def test_melody_from_a_roll_is_its_top_voice():
    roll = midi_manipulation.notes_to_piano_roll(np.array([[60, 0, 3], [63, 0, 1], [62, 1, 3], [62, 3, 4]]), 5,
                                                 60, 64)
    melody = harmonize.melody_from_roll(roll, HP)
    np.testing.assert_array_equal(melody.pitch, [63, 62, 62, 62, -1])
    np.testing.assert_array_equal(melody.struck, [1, 1, 0, 1, 0])


def test_parallel_fifths_and_octaves_are_counted_between_voices_moving_the_same_way():
    def play(*frames):
        roll = np.zeros((len(frames), 40), np.uint8)
        for t, notes in enumerate(frames):
            roll[t, list(notes)] = 1
        return roll
    assert harmonize.parallels(play((0, 7), (2, 9))) == 1             # a fifth to a fifth, both up
    assert harmonize.parallels(play((0, 12), (2, 14), (2, 14))) == 1  # octaves; a repeated frame is no motion
    assert harmonize.parallels(play((0, 7), (0, 7))) == 0
    assert harmonize.parallels(play((0, 7), (2, 6))) == 0             # fifth to a fourth
    assert harmonize.parallels(play((2, 9), (0, 7), (5, 12))) == 2   # down in parallel, then up in parallel
    assert harmonize.parallels(play((0, 7), (2, 7 - 12 + 24))) == 0  # a fifth to a twelfth... (19 - 2 = 17: a fourth)
    assert harmonize.parallels(play((5, 12), (7, 14), (0, 19, 26))) == 1   # the three-note frame pairs with nothing
    assert harmonize.parallels(play((3, 10, 15), (5, 12, 17))) == 2  # 15-3 an octave, 10-3 a fifth; 15-10 a fourth


# Every model and cell: the constraint holds on every generated step.
def graph_with_random_weights(hp, seed=0, scale=1.0):
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(seed)
        gen = rnn_rbm.build_generation_graph(hp, harmonize=True)
        sess = tf.Session(graph=graph)
        sess.run(tf.global_variables_initializer())
        rng = np.random.default_rng(seed)
        for var in rnn_rbm.variables(gen.params):
            sess.run(var.assign(rng.normal(0, scale, var.shape.as_list())))
    return sess, gen


def check_constraint(roll, melody, hp):
    """Assert, at every 16th-note step: the tune's note sounds with its articulation, nothing
    sounds above it, and where it rests nothing sounds at or above its last note."""
    play = roll[:, :hp.n_notes] != 0
    strike = roll[:, hp.n_notes:] != 0 if hp.articulation else None
    ceiling = harmonize.ceilings(melody) - hp.lowest_note
    for t, pitch in enumerate(melody.pitch):
        key = ceiling[t]
        if pitch != harmonize.REST:
            assert play[t, key], f"step {t}: the melody's note is missing"
            if hp.articulation:
                assert strike[t, key] == melody.struck[t], f"step {t}: the melody's articulation is changed"
            assert not play[t, key + 1:].any(), f"step {t}: a note above the melody"
        else:
            assert not play[t, key:].any(), f"step {t}: a note at or above the resting melody's last note"


MELODY = [(63, 0, 2 * Q), (62, 2 * Q, 3 * Q), (62, 3 * Q, 6 * Q), (64, 8 * Q, 9 * Q), (61, 9 * Q, 11 * Q)]


@pytest.mark.parametrize("model_name", config.MODELS)
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("best_of", [1, 3])
def test_every_step_of_every_model_and_cell_holds_the_melody_and_nothing_above_it(midi_file, model_name, cell,
                                                                                 best_of):
    if model_name == "rtrbm" and cell != "rnn":
        pytest.skip("an RTRBM has no --cell: its recurrence is its RBM's hidden units")
    hp = HP.replace(model=model_name, cell=cell, n_hidden=6, n_hidden_recurrent=4, best_of=best_of, particles=4,
                    k_generate=3)
    # songs 0-2 hold MELODY, songs 3-5 the same a semitone lower: a clamp per song
    melodies = [harmonize.read_melody(midi_file([(p - shift, s, e) for p, s, e in MELODY], name=f"m{shift}.mid"), hp)
                for shift in (0, 1)]
    (mask_a, values_a), (mask_b, values_b) = (harmonize.clamp_rows(m, hp) for m in melodies)
    per_song = lambda a, b: np.stack([a] * 3 + [b] * 3, axis=1)                          # [rows, songs, nv]
    sess, gen = graph_with_random_weights(hp)
    with sess:
        music = sess.run(gen.music, {gen.n_songs: 6, gen.n_steps: len(mask_a), gen.seed: [4, 0],
                                     gen.clamp_mask: per_song(mask_a, mask_b),
                                     gen.clamp_values: per_song(values_a, values_b)})
    assert music.sum() > 0
    for i, song in enumerate(music):
        melody = melodies[i // 3]
        roll = midi_manipulation.canonical_piano_roll(midi_manipulation.rows_to_piano_roll(song, hp.frame_size))
        check_constraint(roll[:len(melody.pitch)], melody, hp)


# Tiny checkpoints of each model, through rnn_rbm_generate.py's own command line.
@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("harmonize")
    write_midi(str(root / "song.mid"), [(60 + (i % 5), 2 * Q * i, 2 * Q * (i + 1)) for i in range(48)])
    made = {}
    for model_name, cell in [("rnn-rbm", "rnn"), ("rnn-nade", "lstm"), ("rnn", "gru"), ("rtrbm", "rnn"), ("rnn-dbn", "lstm")]:
        folder = root / model_name
        assert weight_initializations.main(["--data", str(root), "--checkpoint-dir", str(folder), "--quiet",
                                            "--cache-dir", str(root / "cache"), "--model", model_name, "--cell", cell,
                                            "--n-hidden", "6", "--n-hidden-recurrent", "4", "--init-std-rnn", "0.5",
                                            "--pretrain-epochs", "1"]) == 0
        made[model_name] = str(folder / "initialized.ckpt")
    return made


@pytest.mark.parametrize("model_name", config.MODELS)
def test_harmonize_writes_the_melody_as_the_top_voice_of_every_song_the_same_bytes_for_a_seed(
        tiny_checkpoints, midi_file, tmp_path, model_name):
    tune = midi_file([(p + 24, s, e) for p, s, e in MELODY] + [(50, 0, 4 * Q)], name="tune.mid")   # 2 octaves up
    common = [tiny_checkpoints[model_name], "--harmonize", tune, "--num-songs", "2", "--seed", "5", "--quiet",
              "--best-of", "2", "--bpm", "90"]
    first = rnn_rbm_generate.main(common + ["--out", str(tmp_path / "a")])
    again = rnn_rbm_generate.main(common + ["--out", str(tmp_path / "b")])
    assert [os.path.basename(p) for p in first] == ["1_harmonized_tune.mid", "2_harmonized_tune.mid"]
    hp = HParams()
    melody = harmonize.read_melody(tune, hp)
    assert melody.shift == 0 and len(melody.pitch) == 11
    for a, b in zip(first, again):
        assert open(a, "rb").read() == open(b, "rb").read()
        assert os.path.exists(a[:-4] + ".png")
        roll = midi_manipulation.midi_to_piano_roll(a)
        assert len(roll) == len(melody.pitch)                       # as long as the melody lasts
        check_constraint(roll, melody, hp)


def test_bad_melodies_get_one_line_and_no_file(tiny_checkpoints, midi_file, tmp_path, capsys):
    not_midi = tmp_path / "tune.mid"
    not_midi.write_text("a tune in my head")
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    cases = {
        str(not_midi): "not a readable MIDI file",
        str(empty): "the file is empty",
        midi_file([], name="silent.mid", end_tick=4 * Q): "has no notes",
        midi_file([(36, 0, Q, 9), (38, Q, 2 * Q, 9)], name="drums.mid"): "has no notes (drums",
        midi_file([(20, 0, Q), (110, Q, 2 * Q)], name="wide.mid"): "no octave shift puts it on the model's keys",
        str(tmp_path / "nowhere.mid"): "no such file",
    }
    out = tmp_path / "out"
    for tune, why in cases.items():
        code, err = run_cli(rnn_rbm_generate, [tiny_checkpoints["rnn-rbm"], "--harmonize", tune, "--out", str(out),
                                               "--data", str(tmp_path)], capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: --harmonize") and why in lines[0], err
    code, err = run_cli(rnn_rbm_generate, [tiny_checkpoints["rnn-rbm"], "--harmonize", midi_file(MELODY),
                                           "--length", "8", "--out", str(out)], capsys)
    assert code == 2 and "leave out --length" in err
    assert not out.exists() or not os.listdir(out)


# The harmonizations' distribution against the exact one, on models small enough to enumerate.
TINY = HParams(lowest_note=60, highest_note=64, articulation=False, steps_per_rbm=1, n_hidden=4, n_hidden_recurrent=3,
               k_generate=40)                                       # 5 units; the tune holds the top two


def exact_first_frame_given(gen, sess, hp, log_p_of):
    """p(units 0..2 | unit 3 on, unit 4 off) of the first frame, by enumeration: [8] in binary order."""
    frames = np.array([list(bits) + [1, 0] for bits in itertools.product([0, 1], repeat=3)], np.float32)
    log_p = log_p_of(frames)
    p = np.exp(log_p - log_p.max())
    return p / p.sum()


def first_frame_frequencies(gen, sess, n, seed):
    mask = np.array([[[0, 0, 0, 1, 1]]], np.float32)                    # [steps, every song, units]
    values = np.array([[[0, 0, 0, 1, 0]]], np.float32)
    music = sess.run(gen.music, {gen.n_songs: n, gen.n_steps: 1, gen.seed: [seed, 0], gen.clamp_mask: mask,
                                 gen.clamp_values: values})[:, 0]
    assert (music[:, 3] == 1).all() and (music[:, 4] == 0).all()
    index = music[:, :3].astype(np.int64) @ np.array([4, 2, 1])
    return np.bincount(index, minlength=8) / n


def first_frame_biases(sess, p):
    W, bv, bh, Wuv, u0 = sess.run([p.W, p.bv, p.bh, p.Wuv, p.u0])
    Wuh = sess.run(p.Wuh) if p.Wuh is not None else None
    return W, bv + u0 @ Wuv, None if Wuh is None else bh + u0 @ Wuh


def test_rbm_harmonizations_are_draws_from_the_exact_conditional_given_the_clamped_units():
    hp = TINY.replace(model="rnn-rbm")
    sess, gen = graph_with_random_weights(hp, seed=1, scale=1.5)
    with sess:
        # the tune's note unlikely on its own, so that holding it moves the others (through W)
        sess.run([gen.params.u0.assign(np.zeros(3)), gen.params.bv.assign([0.3, -0.2, 0.1, -3.0, 0.0])])
        W, bv, bh = first_frame_biases(sess, gen.params)

        def log_p(frames):      # -F(v): log p(v) up to log Z
            return frames @ bv + np.logaddexp(0, frames @ W + bh).sum(1)
        exact = exact_first_frame_given(gen, sess, hp, log_p)
        n = 60_000
        frequencies = first_frame_frequencies(gen, sess, n, seed=3)
    every = np.array(list(itertools.product([0, 1], repeat=5)), np.float32)
    marginal = np.exp(log_p(every)).reshape(8, 4).sum(1)                    # the first three units, the tune free
    assert np.abs(marginal / marginal.sum() - exact).max() > 0.05          # holding the tune changes the voices
    np.testing.assert_allclose(frequencies, exact, atol=4 * np.sqrt(exact * (1 - exact) / n).max() + 2e-3)


def nade_log_p(frames, W, V, b, c):
    """log p of frames under a NADE, unit by unit in NumPy."""
    out = np.zeros(len(frames))
    for r, v in enumerate(frames):
        a = c.copy()
        for i in range(len(v)):
            p_i = 1 / (1 + np.exp(-(b[i] + (1 / (1 + np.exp(-a))) @ V[:, i])))
            out[r] += np.log(p_i if v[i] else 1 - p_i)
            a = a + v[i] * W[i]
    return out


@pytest.mark.parametrize("particles, within", [(200, True), (1, False)])
def test_nade_harmonizations_tend_to_the_exact_conditional_with_particles(particles, within):
    """The free units come before the tune's in the NADE's order: one particle draws them as if the
    tune were not there; resampling 200 gets to the exact conditional within sampling error (the
    method's bias is O(1 / particles))."""
    hp = TINY.replace(model="rnn-nade", particles=particles)
    sess, gen = graph_with_random_weights(hp, seed=2)
    with sess:
        W, b, c = first_frame_biases(sess, gen.params)
        V = sess.run(gen.params.V)
        exact = exact_first_frame_given(gen, sess, hp, lambda frames: nade_log_p(frames, W, V, b, c))
        n = 20_000
        frequencies = first_frame_frequencies(gen, sess, n, seed=4)
    tolerance = 4 * np.sqrt(exact * (1 - exact) / n).max() + 3e-3
    assert (np.abs(frequencies - exact).max() <= tolerance) == within, (frequencies, exact)


def test_the_study_scores_notes_below_the_top_one_and_runs_on_a_benchmark_split(tiny_checkpoints, tmp_path, capsys):
    import pickle
    import harmonize_study
    play = lambda *frames: np.array([[k in f for k in range(6)] for f in frames], np.uint8)
    real = play({0, 2, 5}, {1, 5}, set())
    generated = play({0, 3, 5}, {1, 4}, {2})                  # below the top: {0, 3} vs {0, 2}; {1} vs {1}; none
    np.testing.assert_array_equal(harmonize_study.below_top(generated != 0)[2], [0] * 6)
    assert harmonize_study.frame_accuracy([generated], [real], 6) == pytest.approx(2 / 4)     # TP 2, FP 1, FN 1
    chorale = lambda k: [[60 + k, 64 + k, 67 + k, 72 + k]] * 4 + [[62 + k, 65 + k, 69 + k, 74 + k]] * 4
    path = tmp_path / "tiny.pickle"
    path.write_bytes(pickle.dumps({"train": [chorale(k) for k in range(3)], "test": [chorale(5), chorale(7)]}))
    table = harmonize_study.main([str(path), tiny_checkpoints["rnn-nade"], tiny_checkpoints["rnn-rbm"], "--quiet",
                                  "--out", str(tmp_path / "out"), "--draws", "2"])
    printed = capsys.readouterr().out
    assert "2 songs of" in printed and "initialized.ckpt, harmonized" in printed
    assert len(table) == 6 and all(len(rolls) == 4 for rolls in table.values())
    hp = HParams()
    for label, rolls in table.items():
        if label.endswith("no melody"):
            continue
        for i, roll in enumerate(rolls):
            source = chorale(5 if i < 2 else 7)
            melody = harmonize.melody_from_roll(
                midi_manipulation.pitch_frames_to_piano_roll(source, hp.lowest_note, hp.highest_note), hp)
            check_constraint(roll, melody, hp)
