"""One-epoch smoke runs of the real entry points on two tiny songs, and their command-line contract."""
import json
import shutil
import wave
import os
import subprocess
import sys

import mido
import numpy as np
import pytest

import audio
import checkpoints
import midi_manipulation
import config
import rnn_rbm_generate
import rnn_rbm_train
import sharpen_checkpoint
import weight_initializations
from conftest import ROOT, run_cli, write_midi
from tf1 import tf

@pytest.fixture
def trained(tiny_run):
    return tiny_run


def read_notes(path):
    return [m for m in mido.MidiFile(path) if m.type == "note_on" and m.velocity > 0]


def test_initialized_checkpoint_carries_its_hparams(trained):
    hp, extra = checkpoints.load_hparams(str(trained / "ckpt" / "initialized.ckpt"))
    assert hp.n_hidden == 8 and hp.n_hidden_recurrent == 6 and hp.pretrain_epochs == 1
    assert np.isfinite(extra["pretrain_cost"])


def test_training_writes_checkpoint_and_log(trained):
    assert checkpoints.exists(str(trained / "ckpt" / "epoch_1.ckpt"))
    import pandas as pd
    log = pd.read_csv(trained / "ckpt" / "training_log.csv")
    assert list(log.columns) == ["epoch", "cost", "seconds", "lr"]
    assert log.epoch.tolist() == [1] and np.isfinite(log.cost[0])
    hp, extra = checkpoints.load_hparams(str(trained / "ckpt" / "epoch_1.ckpt"))
    assert extra["epoch"] == 1 and hp.epochs == 1


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


def test_the_model_is_set_by_pretraining_only(trained, capsys):
    # the layer sizes and the piano roll come from the checkpoint; training and generation do not offer them
    init = str(trained / "ckpt" / "initialized.ckpt")
    for script, args in ((rnn_rbm_train, ["1", "--init", init]), (rnn_rbm_generate, [init])):
        code, err = run_cli(script, args + ["--n-hidden", "9"], capsys)
        assert code == 2 and "unrecognized arguments: --n-hidden 9" in err, err


def run_script(*args, cwd=ROOT):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_bad_command_lines_exit_2_with_one_line(tmp_path, capsys):
    missing = run_script("rnn_rbm_generate.py", str(tmp_path / "nope.ckpt"))
    assert missing.returncode == 2
    assert "nope.ckpt" in missing.stderr and "Traceback" not in missing.stderr
    code, err = run_cli(rnn_rbm_train, ["1", "--checkpoint-dir", str(tmp_path)], capsys)
    assert code == 2 and "weight_initializations.py" in err
    code, err = run_cli(rnn_rbm_train, ["1", "--n-hiden", "5"], capsys)
    assert code == 2 and "unrecognized arguments" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, err = run_cli(weight_initializations, ["--data", str(empty), "--checkpoint-dir", str(tmp_path)], capsys)
    assert code == 2 and "no .mid or .midi files" in err


def test_shipped_checkpoint_generates(tmp_path):
    ckpt = os.path.join(ROOT, "parameter_checkpoints", "pretrained.ckpt")
    if not checkpoints.exists(ckpt):
        pytest.skip("parameter_checkpoints/pretrained.ckpt is not in this checkout")
    paths = rnn_rbm_generate.main([ckpt, "--out", str(tmp_path), "--length", "20", "--seed", "0", "--quiet"])
    assert len(paths) == 3 and all(read_notes(p) for p in paths)
    with open(ckpt + ".hparams.json") as f:
        assert json.load(f)["n_hidden"] == 50


def gen(trained, *args, out="steer"):
    ckpt = str(trained / "ckpt" / "epoch_1.ckpt")
    return rnn_rbm_generate.main([ckpt, "--out", str(trained / out), "--seed", "3", "--k-generate", "2", "--quiet", *args])


def test_training_draws_its_loss_curve(trained):
    with open(trained / "ckpt" / "training_log.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_each_song_gets_a_piano_roll_png(trained):
    paths = gen(trained, "--num-songs", "2", "--length", "4", out="png")
    for path in paths:
        with open(path[:-4] + ".png", "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert not os.path.exists(gen(trained, "--length", "4", "--no-png", out="nopng")[0][:-4] + ".png")


def test_latest_and_run_folder_pick_the_newest_run_checkpoint(trained, monkeypatch):
    ckpt_dir = trained / "ckpt"
    future = os.path.getmtime(ckpt_dir / "epoch_1.ckpt.index") + 100
    os.utime(str(ckpt_dir / "initialized.ckpt.index"), (future, future))  # newer, but not a run checkpoint
    assert checkpoints.resolve(str(ckpt_dir)) == str(ckpt_dir / "epoch_1.ckpt")
    assert checkpoints.resolve(str(ckpt_dir / "epoch_1.ckpt.index")) == str(ckpt_dir / "epoch_1.ckpt")
    monkeypatch.chdir(trained)
    os.symlink("ckpt", "parameter_checkpoints")
    paths = rnn_rbm_generate.main(["latest", "--length", "4", "--out", "latest_out", "--quiet"])
    assert len(paths) == 3
    with pytest.raises(ValueError, match="no checkpoint of a training run"):
        checkpoints.resolve(str(trained / "songs"))


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


def test_sharpen_scales_every_frame_energy_and_leaves_the_rnn(trained, tmp_path):
    src = str(trained / "ckpt" / "epoch_1.ckpt")
    out = sharpen_checkpoint.sharpen(src, str(tmp_path / "sharp.ckpt"), 1.5)
    before, after = tf.train.load_checkpoint(src), tf.train.load_checkpoint(out)
    p = {name: before.get_tensor(name) for name in before.get_variable_to_shape_map()}
    q = {name: after.get_tensor(name) for name in after.get_variable_to_shape_map()}
    assert sorted(p) == sorted(q) == sorted(["W", "bv", "bh", "Wuh", "Wuv", "Wvu", "Wuu", "bu", "u0"])
    for name in ["Wvu", "Wuu", "bu", "u0"]:
        np.testing.assert_array_equal(q[name], p[name])

    def energy(m, u_tm1, v, h):                     # the frame's RBM, as rnn_rbm.conditional_biases builds it
        bv_t, bh_t = m["bv"] + u_tm1 @ m["Wuv"], m["bh"] + u_tm1 @ m["Wuh"]
        return -(v @ bv_t) - (h @ bh_t) - v @ m["W"] @ h
    rng = np.random.default_rng(0)
    for _ in range(5):
        u_tm1 = rng.uniform(-1, 1, p["Wuv"].shape[0])
        v, h = rng.integers(0, 2, p["W"].shape[0]), rng.integers(0, 2, p["W"].shape[1])
        assert energy(q, u_tm1, v, h) == pytest.approx(1.5 * energy(p, u_tm1, v, h), rel=1e-5, abs=1e-6)
    assert checkpoints.load_hparams(out)[0] == checkpoints.load_hparams(src)[0]
    twice = sharpen_checkpoint.sharpen(out, str(tmp_path / "sharper.ckpt"), 2.0)
    assert checkpoints.load_hparams(twice)[1]["alpha"] == pytest.approx(3.0)
    assert rnn_rbm_generate.main([twice, "--out", str(tmp_path / "songs"), "--num-songs", "1", "--length", "8",
                                  "--quiet"])


def test_sharpen_refuses_bad_alpha_and_overwriting(trained, tmp_path):
    src = str(trained / "ckpt" / "epoch_1.ckpt")
    with pytest.raises(ValueError, match="not a positive number"):
        sharpen_checkpoint.sharpen(src, str(tmp_path / "s.ckpt"), 0.0)
    with pytest.raises(ValueError, match="is the input checkpoint"):
        sharpen_checkpoint.sharpen(src, src, 1.2)
    with pytest.raises(ValueError, match="exists already"):
        sharpen_checkpoint.sharpen(src, str(trained / "ckpt" / "initialized.ckpt"), 1.2)
