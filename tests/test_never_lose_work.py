"""Training survives Ctrl-C, kill -9, divergence and resumption; checkpoints are checked before use."""
import os
import pickle
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import tensorflow.compat.v1 as tf

import checkpoints
import config
import rnn_rbm_generate
import rnn_rbm_train
import weight_initializations
from conftest import ROOT, write_midi

SMALL = ["--n-hidden", "6", "--n-hidden-recurrent", "5", "--k-train", "2", "--k-generate", "2",
         "--chunk-len", "8", "--quiet"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("work")
    data = root / "songs"
    data.mkdir()
    write_midi(str(data / "a.mid"), [(60 + (i % 5), 120 * i, 120 * (i + 1)) for i in range(96)])
    write_midi(str(data / "b.mid"), [(55 + (i % 3) * 4, 240 * i, 240 * (i + 1)) for i in range(40)])
    init_dir = root / "init"
    weight_initializations.main(["--data", str(data), "--checkpoint-dir", str(init_dir), "--epochs", "2",
                                 "--cache-dir", "", *SMALL])
    return root, str(data), str(init_dir / "initialized.ckpt")


def train_args(setup, folder, *extra):
    root, data, init = setup
    return ["--data", data, "--checkpoint-dir", str(root / folder), "--cache-dir", "", *SMALL, *extra]


def weights(path):
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def test_resume_after_an_interrupt_ends_where_an_uninterrupted_run_ends(setup, monkeypatch):
    root, _, init = setup
    assert rnn_rbm_train.main(["4", "--init", init, *train_args(setup, "straight", "--save-every", "1")]) == 0

    real = rnn_rbm_train.train_epoch

    def interrupted_in_epoch_3(sess, model, song_rows, hp, epoch, check):
        cost = real(sess, model, song_rows, hp, epoch, check)     # epoch 3 changes the weights, then Ctrl-C
        if epoch == 3:
            raise KeyboardInterrupt
        return cost
    monkeypatch.setattr(rnn_rbm_train, "train_epoch", interrupted_in_epoch_3)
    assert rnn_rbm_train.main(["4", "--init", init, *train_args(setup, "broken", "--save-every", "1")]) == 0
    monkeypatch.undo()
    interrupted = str(root / "broken" / "interrupted.ckpt")
    assert config.load_hparams(interrupted)[1]["epoch"] == 2
    assert rnn_rbm_train.main(["4", "--resume", *train_args(setup, "broken", "--save-every", "1")]) == 0

    straight, resumed = weights(str(root / "straight" / "epoch_4.ckpt")), weights(str(root / "broken" / "epoch_4.ckpt"))
    for name in straight:
        np.testing.assert_allclose(resumed[name], straight[name], rtol=1e-6, atol=1e-7, err_msg=name)
    log_a = pd.read_csv(root / "straight" / "training_log.csv")
    log_b = pd.read_csv(root / "broken" / "training_log.csv")
    assert log_b.epoch.tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(log_b.cost, log_a.cost, rtol=1e-6)
    np.testing.assert_allclose(log_b.lr, log_a.lr)


def test_resume_with_nothing_to_resume_says_so(setup):
    with pytest.raises(ValueError, match="nothing to resume"):
        rnn_rbm_train.main(["4", "--resume", *train_args(setup, "empty_dir")])


def test_diverging_training_stops_and_keeps_the_last_good_checkpoint(setup, monkeypatch, capsys):
    root, _, init = setup
    real = rnn_rbm_train.train_epoch
    monkeypatch.setattr(rnn_rbm_train, "train_epoch",
                        lambda sess, model, rows, hp, epoch, check: float("nan") if epoch == 2 else real(sess, model, rows, hp, epoch))
    assert rnn_rbm_train.main(["5", "--init", init, *train_args(setup, "nan", "--save-every", "1")]) == 1
    assert "diverged" in capsys.readouterr().err
    assert [e for e, _ in checkpoints.epoch_checkpoints(str(root / "nan"))] == [1]
    assert pd.read_csv(root / "nan" / "training_log.csv").epoch.tolist() == [1]


def start_training(setup, folder, *extra):
    cmd = [sys.executable, "rnn_rbm_train.py", "100000", *train_args(setup, folder, *extra)]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path, timeout=60):
    end = time.time() + timeout
    while not os.path.exists(path):
        assert time.time() < end, f"{path} never appeared"
        time.sleep(0.05)


def test_ctrl_c_saves_and_exits_0(setup):
    root, _, init = setup
    proc = start_training(setup, "ctrl_c", "--init", init, "--save-every", "1000")
    wait_for(str(root / "ctrl_c" / "training_log.csv"))
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()                                       # a failed test leaves no training behind
        _, err = proc.communicate()
        pytest.fail(f"training went on for 60 s after Ctrl-C; stderr: {err}")
    assert proc.returncode == 0, err
    assert "interrupted in epoch" in err and "interrupted.ckpt" in err and "--resume" in err
    assert "Traceback" not in err
    saved = weights(str(root / "ctrl_c" / "interrupted.ckpt"))
    assert saved["W"].shape == (780, 6)


def test_ctrl_c_sets_a_flag_that_training_reads_and_a_second_press_interrupts():
    ctrl_c = rnn_rbm_train.CtrlC()
    ctrl_c.install()
    try:
        ctrl_c.check()                                    # not pressed: nothing happens
        signal.raise_signal(signal.SIGINT)                # the first press raises nothing where it lands
        assert ctrl_c.pressed
        with pytest.raises(KeyboardInterrupt):
            ctrl_c.check()                                # it stops training at the next check
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)            # the second press interrupts at once
    finally:
        ctrl_c.restore()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class PressesCtrlCWhenCollected:
    def __del__(self):
        signal.raise_signal(signal.SIGINT)


def test_ctrl_c_that_lands_in_a_finalizer_still_stops_training():
    # Python prints and drops an exception raised in __del__, so a plain KeyboardInterrupt
    # landing there would be lost and training would go on
    ctrl_c = rnn_rbm_train.CtrlC()
    ctrl_c.install()
    try:
        PressesCtrlCWhenCollected()
        with pytest.raises(KeyboardInterrupt):
            ctrl_c.check()
    finally:
        ctrl_c.restore()


def test_ctrl_c_leaves_an_ignored_sigint_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        ctrl_c = rnn_rbm_train.CtrlC()
        ctrl_c.install()
        assert not ctrl_c.installed and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        ctrl_c.restore()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_kill_9_at_any_moment_leaves_every_checkpoint_loadable(setup):
    root, _, init = setup
    folder = root / "killed"
    rng = random.Random(0)
    for attempt in range(3):
        extra = ["--save-every", "1"] + (["--resume"] if attempt else ["--init", init])
        proc = start_training(setup, "killed", *extra)
        wait_for(str(folder / "training_log.csv"))
        time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        found = checkpoints.all_checkpoints(str(folder))
        assert found
        for path in found:
            assert set(weights(path)) == {"W", "bv", "bh", "Wuh", "Wuv", "Wvu", "Wuu", "bu", "u0"}, path
            config.load_hparams(path)
    epochs = [e for e, _ in checkpoints.epoch_checkpoints(str(folder))]
    assert epochs == list(range(1, len(epochs) + 1))        # each resume went on where the last one stopped


def test_mismatched_and_damaged_checkpoints_are_refused(setup, tmp_path):
    root, _, init = setup
    with pytest.raises(ValueError, match=r"n_hidden: checkpoint 6, asked 9"):
        rnn_rbm_generate.main([init, "--n-hidden", "9", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="lowest_note: checkpoint 24, asked 21; highest_note: checkpoint 101, asked 108"):
        rnn_rbm_generate.main([init, "--lowest-note", "21", "--highest-note", "108", "--out", str(tmp_path)])
    damaged = str(tmp_path / "damaged.ckpt")
    for suffix in (".index", ".data-00000-of-00001", ".hparams.json"):
        with open(init + suffix, "rb") as src, open(damaged + suffix, "wb") as dst:
            data = src.read()
            dst.write(data[:len(data) // 2] if suffix.startswith(".data") else data)
    with pytest.raises(ValueError, match="damaged.ckpt cannot be loaded"):
        rnn_rbm_generate.main([damaged, "--out", str(tmp_path), "--quiet"])


def run_script(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_bad_values_get_one_line_and_exit_2(setup, tmp_path):
    root, data, init = setup
    (tmp_path / "notes.mid").write_text("not midi")
    (tmp_path / "flat.pickle").write_bytes(pickle.dumps({"train": [[60, 62]]}))
    cases = [
        (["rnn_rbm_train.py", "-3", "--init", init, "--data", data], "--epochs must be 0 or more"),
        (["rnn_rbm_generate.py", init, "--primer", str(tmp_path / "notes.mid")], "notes.mid"),
        (["rnn_rbm_generate.py", str(tmp_path / "missing.ckpt")], "missing.ckpt not found"),
        (["rnn_rbm_train.py", "1", "--init", init, "--data", str(tmp_path / "flat.pickle")], "wrong shape"),
        (["weight_initializations.py", "--data", str(tmp_path / "nowhere")], "no .mid or .midi files"),
    ]
    for args, message in cases:
        result = run_script(*args, "--checkpoint-dir", str(tmp_path / "ck")) if args[0] != "rnn_rbm_generate.py" \
            else run_script(*args, "--out", str(tmp_path / "out"))
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
