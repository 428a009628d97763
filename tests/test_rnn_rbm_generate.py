"""rnn_rbm_generate.py: MIDI files, pictures, primers, lengths, WAV and output, from the shared tiny model."""
import os
import re
import shutil
import subprocess
import sys
import wave

import mido
import numpy as np
import pytest

import audio
import checkpoints
import datasets
import midi_manipulation
import rnn_rbm
import rnn_rbm_generate
import sharpen_checkpoint
from conftest import ROOT, run_cli
from tf1 import tf

@pytest.fixture
def trained(tiny_run):
    return tiny_run


def read_notes(path):
    return [m for m in mido.MidiFile(path) if m.type == "note_on" and m.velocity > 0]


def test_generate_writes_valid_midi_and_never_overwrites(trained):
    ckpt, out = str(trained / "ckpt" / "epoch_1.ckpt"), str(trained / "out")
    first = rnn_rbm_generate.main([ckpt, "--out", out, "--num-songs", "2", "--length", "8", "--seed", "1", "--quiet"])
    assert [os.path.basename(p) for p in first] == ["1_unprimed.mid", "2_unprimed.mid"]
    for path in first:
        mid = mido.MidiFile(path)
        assert mid.length == pytest.approx(8 * 5 * 0.125)      # 8 rows of five 16ths at 120 bpm
        notes_on = sum(m.type == "note_on" and m.velocity > 0 for m in mid)
        notes_off = sum(m.type == "note_off" or (m.type == "note_on" and m.velocity == 0) for m in mid)
        assert notes_on == notes_off                           # every note is switched off
    again = rnn_rbm_generate.main([ckpt, "--out", out, "--num-songs", "2", "--length", "8", "--seed", "1", "--quiet"])
    assert [os.path.basename(p) for p in again] == ["3_unprimed.mid", "4_unprimed.mid"]
    for old, new in zip(first, again):
        with open(old, "rb") as a, open(new, "rb") as b:
            assert a.read() == b.read()                        # same seed, same checkpoint, same files


def test_generate_with_primer(trained):
    ckpt, out = str(trained / "ckpt" / "epoch_1.ckpt"), str(trained / "primed")
    paths = rnn_rbm_generate.main([ckpt, "--out", out, "--num-songs", "1", "--length", "4", "--seed", "2",
                                   "--primer", str(trained / "songs" / "arpeggio.mid"), "--quiet"])
    assert [os.path.basename(p) for p in paths] == ["1_arpeggio.mid"]
    assert mido.MidiFile(paths[0]).length == pytest.approx(4 * 5 * 0.125)
    paths = rnn_rbm_generate.main([ckpt, "--out", out, "--num-songs", "1", "--length", "4", "--quiet",
                                   "--primer", str(trained / "songs" / "sub" / "chords.MIDI")])
    assert [os.path.basename(p) for p in paths] == ["1_chords.mid"]      # never chords.MIDI.mid


def run_script(*args, cwd=ROOT):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", ["pretrained", "pretrained_sharpened", "pretrained_nade_sharpened"])
def test_shipped_checkpoint_generates(tmp_path, name):
    ckpt = os.path.join(ROOT, "parameter_checkpoints", f"{name}.ckpt")
    if not checkpoints.exists(ckpt):
        pytest.skip(f"parameter_checkpoints/{name}.ckpt is not in this checkout")
    paths = rnn_rbm_generate.main([ckpt, "--out", str(tmp_path), "--length", "20", "--seed", "0", "--quiet"])
    assert len(paths) == 3 and all(read_notes(p) for p in paths)
    assert checkpoints.load_hparams(ckpt)[0].n_hidden == 50


@pytest.mark.parametrize("name, source, alpha, generation", [
    ("pretrained_sharpened", "pretrained", 1.25, dict(k_generate=100)),
    ("pretrained_nade_sharpened", "pretrained_nade", 1.25, dict(best_of=4))])
def test_the_sharpened_checkpoints_are_what_docs_music_says(name, source, alpha, generation):
    """Each is its source at `alpha` (docs/music.md's rows); the NADE one is README's default."""
    folder = os.path.join(ROOT, "parameter_checkpoints")
    src, out = (tf.train.load_checkpoint(os.path.join(folder, f"{n}.ckpt")) for n in (source, name))
    hp, run = checkpoints.load_hparams(os.path.join(folder, f"{name}.ckpt"))
    assert sorted(out.get_variable_to_shape_map()) == sorted(rnn_rbm.MODEL_PARAMS[hp.model])
    for var in out.get_variable_to_shape_map():
        scale = alpha if var in sharpen_checkpoint.SCALED[hp.model] else 1.0
        np.testing.assert_allclose(out.get_tensor(var), scale * src.get_tensor(var), rtol=1e-6)
    source_hp = checkpoints.load_hparams(os.path.join(folder, f"{source}.ckpt"))[0]
    assert hp == source_hp.replace(**generation)
    assert run["alpha"] == alpha


def test_the_quick_start_uses_the_sharpened_nade():
    with open(os.path.join(ROOT, "README.md")) as f:
        assert "python rnn_rbm_generate.py parameter_checkpoints/pretrained_nade_sharpened.ckpt\n" in f.read()


def gen(trained, *args, out="steer"):
    ckpt = str(trained / "ckpt" / "epoch_1.ckpt")
    return rnn_rbm_generate.main([ckpt, "--out", str(trained / out), "--seed", "3", "--k-generate", "2", "--quiet", *args])


def test_each_song_gets_a_piano_roll_png(trained):
    paths = gen(trained, "--num-songs", "2", "--length", "4", out="png")
    for path in paths:
        with open(path[:-4] + ".png", "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert not os.path.exists(gen(trained, "--length", "4", "--no-png", out="nopng")[0][:-4] + ".png")


def test_length_in_bars_and_bpm(trained):
    path = gen(trained, "--num-songs", "1", "--length", "4bars", "--bpm", "60", out="bars")[0]
    mid = mido.MidiFile(path)
    assert mid.length == pytest.approx(4 * 16 * 0.25)                      # 64 16ths at 60 bpm
    assert midi_manipulation.midi_to_piano_roll(path).shape[0] == 64


def test_primer_by_name_prime_steps_and_keep_primer(trained):
    data = str(trained / "songs")
    a = gen(trained, "--num-songs", "1", "--length", "6", "--primer", "arpeggio", "--data", data,
            "--prime-steps", "2", "--no-png", out="p2")[0]
    b = gen(trained, "--num-songs", "1", "--length", "6", "--primer", "arpeggio", "--data", data,
            "--prime-steps", "8", "--no-png", out="p8")[0]
    assert os.path.basename(a) == "1_arpeggio.mid"
    roll_a, roll_b = midi_manipulation.midi_to_piano_roll(a), midi_manipulation.midi_to_piano_roll(b)
    assert not np.array_equal(roll_a, roll_b)                             # a longer warm-up, another song
    kept = gen(trained, "--num-songs", "1", "--length", "6", "--primer", "arpeggio", "--data", data,
               "--prime-steps", "8", "--keep-primer", "--no-png", out="kept")[0]
    kept_roll = midi_manipulation.midi_to_piano_roll(kept)
    primer_roll = midi_manipulation.midi_to_piano_roll(str(trained / "songs" / "arpeggio.mid"))
    assert kept_roll.shape[0] == (8 + 6) * 5
    np.testing.assert_array_equal(kept_roll[:40], primer_roll[:40])        # the primer itself, then ...
    np.testing.assert_array_equal(kept_roll[40:], roll_b)                  # ... the same continuation
    with pytest.raises(ValueError, match="no song of that name"):
        gen(trained, "--primer", "nonesuch", "--data", data)


def wav_stats(path):
    with wave.open(path) as f:
        samples = np.frombuffer(f.readframes(f.getnframes()), np.int16)
        return f.getnframes() / f.getframerate(), np.abs(samples).max(), np.sqrt(np.mean(samples.astype(float) ** 2))


def test_wav_render_has_the_midi_length_and_is_not_silent(trained):
    if shutil.which("fluidsynth") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install fluidsynth and fluid-soundfont-gm (see .ci/run)")
        pytest.skip("fluidsynth is not installed: apt-get install fluidsynth fluid-soundfont-gm")
    path = gen(trained, "--num-songs", "1", "--length", "2bars", "--wav", "--no-png", out="wav")[0]
    seconds, peak, rms = wav_stats(path[:-4] + ".wav")
    midi_seconds = mido.MidiFile(path).length
    assert midi_seconds == pytest.approx(4.0)
    assert midi_seconds <= seconds <= midi_seconds + 3.0                   # plus the release tail
    assert peak == pytest.approx(0.9 * 32767, rel=0.01)                     # normalised, not FluidSynth's whisper
    assert rms > 100


def test_wav_without_fluidsynth_still_writes_midi(trained, monkeypatch, capsys):
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    paths = gen(trained, "--num-songs", "1", "--length", "4", "--wav", "--no-png", out="nowav")
    assert os.path.exists(paths[0]) and not os.path.exists(paths[0][:-4] + ".wav")
    assert "apt-get install fluidsynth fluid-soundfont-gm" in capsys.readouterr().err


def test_quiet_and_default_output(trained, capsys):
    ckpt = str(trained / "ckpt" / "epoch_1.ckpt")
    common = [ckpt, "--length", "4", "--k-generate", "2"]
    written, loud = run_cli(rnn_rbm_generate, [*common, "--out", str(trained / "loud"), "--no-png"], capsys)
    assert len(written) == 3 and "wrote 3 songs" in loud and "1_unprimed.mid" in loud
    written, quiet = run_cli(rnn_rbm_generate, [*common, "--out", str(trained / "quiet"), "--quiet"], capsys)
    assert len(written) == 3 and "wrote" not in quiet and "generating" not in quiet


def test_primer_by_name_fills_the_empty_default_folder_first(trained, tmp_path, monkeypatch):
    # a fresh clone's Pop_Music_Midi/ holds no songs until they are built, as the README's primer example needs
    monkeypatch.chdir(tmp_path)
    os.makedirs(datasets.DEFAULT_DATA)
    built = []

    def build(out):
        built.append(out)
        shutil.copy(trained / "songs" / "arpeggio.mid", os.path.join(out, "bach_bwv10_7.mid"))
    monkeypatch.setattr(datasets, "build_default_data", build)
    paths = rnn_rbm_generate.main([str(trained / "ckpt" / "epoch_1.ckpt"), "--primer", "bach_bwv10_7", "--length", "4",
                                   "--k-generate", "2", "--num-songs", "1", "--out", "out", "--quiet"])
    assert built == [datasets.DEFAULT_DATA] and os.path.basename(paths[0]) == "1_bach_bwv10_7.mid"


def test_stats_prints_one_line_per_song_from_its_midi(trained, capsys):
    ckpt, out = str(trained / "ckpt" / "epoch_1.ckpt"), str(trained / "stats_out")
    paths = rnn_rbm_generate.main([ckpt, "--out", out, "--num-songs", "2", "--length", "8", "--seed", "1", "--quiet",
                                   "--no-png", "--stats"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    polyphony, silent = [], []
    for path, line in zip(paths, lines):
        notes, n_steps = midi_manipulation.midi_to_notes(path)
        assert line.startswith(f"{path}: {len(notes) / (n_steps / 16):.1f} notes/bar, polyphony ")
        assert re.search(r"silent \d+%, key fit \d\.\d\d( \([A-G][#b]? (major|minor)\))?, repetition \d\.\d\d$", line)
        counts = midi_manipulation.notes_to_piano_roll(notes, n_steps, 0, 127, False).sum(1)
        polyphony.append(counts[counts > 0].mean() if (counts > 0).any() else 0.0)
        silent.append((counts == 0).mean())
    assert lines[2] == f"mean of 2 songs: polyphony {np.mean(polyphony):.2f}, silent {100 * np.mean(silent):.1f}%"


def test_gibbs_study_prints_its_two_tables(trained, tmp_path, capsys):
    import pickle
    import gibbs_study
    song = [[60 + (t % 3), 64, 67] for t in range(60)]          # 12 rows of 5 steps
    data = tmp_path / "tiny.pickle"
    data.write_bytes(pickle.dumps({"train": [song, song[3:]], "test": [song]}))
    gibbs_study.main([str(trained / "ckpt" / "epoch_1.ckpt"), str(data), "--chains", "5", "--quiet"])
    out = capsys.readouterr().out
    assert out.startswith("12 frames of 1 test songs") and out.count(" k ") == 8 + 9
    assert "from the data's first frames       k  10000" in out
