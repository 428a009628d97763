"""rnn_rbm_train.py: checkpoints and log; it survives Ctrl-C, kill -9 and divergence, and --resume continues only the run asked for."""
import os
import random
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

import checkpoints
import rnn_rbm
import rnn_rbm_evaluate
import rnn_rbm_generate
import rnn_rbm_train
import sharpen_checkpoint
import training
import weight_initializations
from conftest import ROOT, TINY_MODEL, TINY_TRAIN, run_cli, run_in, weights, touch_shipped
from test_evaluation import tiny_dataset

SMALL = [*TINY_TRAIN, "--quiet"]


@pytest.fixture
def setup(tiny_run):
    """(working folder, songs folder, initialized.ckpt) of the shared tiny model."""
    return tiny_run, str(tiny_run / "songs"), str(tiny_run / "ckpt" / "initialized.ckpt")


def interrupted_in_epoch(interrupted):
    """training.train_epoch, with Ctrl-C pressed at the end of epoch `interrupted`, after it changed the weights."""
    real = training.train_epoch

    def train_epoch(sess, model, song_rows, hp, epoch, check, report=None):
        cost = real(sess, model, song_rows, hp, epoch, check, report)
        if epoch == interrupted:
            raise KeyboardInterrupt
        return cost
    return train_epoch


def train_args(setup, folder, *extra):
    root, data, init = setup
    return ["--data", data, "--checkpoint-dir", str(root / folder), "--cache-dir", "", *SMALL, *extra]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_resume_after_an_interrupt_ends_where_an_uninterrupted_run_ends(setup, monkeypatch, optimizer):
    root, _, init = setup
    options = ["--save-every", "1", "--optimizer", optimizer, "--lr", "0.01"]
    straight_dir, broken_dir = f"straight_{optimizer}", f"broken_{optimizer}"
    assert rnn_rbm_train.main(["4", "--init", init, *train_args(setup, straight_dir, *options)]) == 0

    monkeypatch.setattr(training, "train_epoch", interrupted_in_epoch(3))
    assert rnn_rbm_train.main(["4", "--init", init, *train_args(setup, broken_dir, *options)]) == 0
    monkeypatch.undo()
    interrupted = str(root / broken_dir / "interrupted.ckpt")
    assert checkpoints.load_hparams(interrupted)[1]["epoch"] == 2
    assert rnn_rbm_train.main(["4", "--resume", *train_args(setup, broken_dir, "--save-every", "1")]) == 0

    straight, resumed = weights(str(root / straight_dir / "epoch_4.ckpt")), weights(str(root / broken_dir / "epoch_4.ckpt"))
    assert ("adam/W/m" in straight and "adam/beta1_power" in straight) == (optimizer == "adam")
    assert set(resumed) == set(straight)
    for name in straight:
        np.testing.assert_allclose(resumed[name], straight[name], rtol=1e-6, atol=1e-7, err_msg=name)
    log_a = pd.read_csv(root / straight_dir / "training_log.csv")
    log_b = pd.read_csv(root / broken_dir / "training_log.csv")
    assert log_b.epoch.tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(log_b.cost, log_a.cost, rtol=1e-6)
    np.testing.assert_allclose(log_b.lr, log_a.lr)


def test_resume_with_nothing_to_resume_says_so(setup):
    with pytest.raises(ValueError, match="nothing to resume"):
        rnn_rbm_train.main(["4", "--resume", *train_args(setup, "empty_dir")])


def test_diverging_training_stops_and_keeps_the_last_good_checkpoint(setup, monkeypatch, capsys):
    root, _, init = setup
    real = training.train_epoch
    monkeypatch.setattr(training, "train_epoch",
                        lambda sess, model, rows, hp, epoch, check, report=None:
                        float("nan") if epoch == 2 else real(sess, model, rows, hp, epoch))
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
    assert "interrupted in epoch" in err and "interrupted.ckpt" in err
    data = setup[1]
    assert (f"continue with: python rnn_rbm_train.py 100000 --resume --checkpoint-dir {shlex.quote(str(root / 'ctrl_c'))}"
            f" --data {shlex.quote(data)}\n") in err, err
    assert "Traceback" not in err
    saved = weights(str(root / "ctrl_c" / "interrupted.ckpt"))
    assert saved["W"].shape == (780, 8)


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
            checkpoints.load_hparams(path)
    epochs = [e for e, _ in checkpoints.epoch_checkpoints(str(folder))]
    assert epochs == list(range(1, len(epochs) + 1))        # each resume went on where the last one stopped


def run_script(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


# --- the default folder, beside the shipped checkpoints, as a user runs the scripts ---


def test_kill_9_then_resume_continues_the_killed_run_in_the_default_folder(user_copy, monkeypatch, capsys):
    small = [a for a in SMALL if a != "--quiet"]
    monkeypatch.chdir(user_copy)                  # pretraining in this process; training and resuming as processes
    code, err = run_cli(weight_initializations, ["--data", "songs", "--pretrain-epochs", "2", "--cache-dir", "",
                                                 *TINY_MODEL], capsys)
    assert code == 0, err
    folder = user_copy / "parameter_checkpoints"
    proc = subprocess.Popen([sys.executable, "rnn_rbm_train.py", "100000", "--data", "songs", "--cache-dir", "",
                             "--save-every", "1", *SMALL], cwd=user_copy, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(str(folder / "epoch_2.ckpt.index"))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    killed_at = max(e for e, _ in checkpoints.epoch_checkpoints(str(folder)))
    touch_shipped(user_copy)

    resumed = run_in(user_copy, "rnn_rbm_train.py", str(killed_at + 2), "--resume", "--data", "songs", "--cache-dir", "",
                     *small)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {os.path.join('parameter_checkpoints', f'epoch_{killed_at}.ckpt')} after epoch {killed_at}" \
        in resumed.stderr
    assert f"epochs {killed_at + 1} to {killed_at + 2}" in resumed.stderr
    assert checkpoints.exists(str(folder / f"epoch_{killed_at + 2}.ckpt"))
    assert pd.read_csv(folder / "training_log.csv").epoch.tolist() == list(range(1, killed_at + 3))
    hp, run = checkpoints.load_hparams(str(folder / f"epoch_{killed_at + 2}.ckpt"))
    assert (hp.n_hidden, hp.steps_per_rbm, run["data"]) == (8, 5, "songs")

    # done: asking for no more epochs than it has is an error, not a quiet no-op
    again = run_in(user_copy, "rnn_rbm_train.py", str(killed_at + 2), "--resume", "--data", "songs", "--cache-dir", "")
    assert again.returncode == 2 and "nothing to train" in again.stderr, again.stderr


def test_resume_with_other_data_or_hyper_parameters_is_refused(user_copy, monkeypatch, capsys):
    folder = user_copy / "parameter_checkpoints"
    if not checkpoints.run_checkpoints(str(folder)):
        pytest.skip("needs the run of test_kill_9_then_resume_continues_the_killed_run_in_the_default_folder")
    newest = os.path.basename(checkpoints.run_checkpoints(str(folder))[-1])
    before = sorted(os.listdir(folder))
    cases = [(["--data", "other_songs", "--lr", "0.5"], "data: run songs, asked other_songs; lr: run 0.01, asked 0.5"),
             (["--data", "songs", "--lr", "0.5"], "lr: run 0.01, asked 0.5"),
             (["--data", "songs", "--k-train", "9"], "k_train: run 2, asked 9"),
             ([], "data: run songs, asked Pop_Music_Midi")]
    for i, (options, difference) in enumerate(cases):
        argv = ["1000", "--resume", "--cache-dir", "", *options]
        if i == 0:                                    # other data and another option as a process, the rest in this one
            result = run_in(user_copy, "rnn_rbm_train.py", *argv)
            code, err = result.returncode, result.stderr
        else:
            monkeypatch.chdir(user_copy)
            code, err = run_cli(rnn_rbm_train, argv, capsys)
        assert code == 2, (options, err)
        assert len(err.strip().splitlines()) == 1, err
        assert difference in err and newest in err and "--checkpoint-dir" in err, err
    code, err = run_cli(rnn_rbm_train, ["3", "--data", "songs", "--cache-dir", ""], capsys)
    assert code == 2 and "already holds a training run" in err, err
    assert sorted(os.listdir(folder)) == before                 # nothing written, nothing lost


def test_training_writes_checkpoint_and_log(tiny_run):
    assert checkpoints.exists(str(tiny_run / "ckpt" / "epoch_1.ckpt"))
    import pandas as pd
    log = pd.read_csv(tiny_run / "ckpt" / "training_log.csv")
    assert list(log.columns) == ["epoch", "cost", "seconds", "lr"]
    assert log.epoch.tolist() == [1] and np.isfinite(log.cost[0])
    hp, extra = checkpoints.load_hparams(str(tiny_run / "ckpt" / "epoch_1.ckpt"))
    assert extra["epoch"] == 1 and hp.epochs == 1


def test_the_closing_line_quotes_a_folder_with_a_space(tiny_run, tmp_path, capsys):
    import shutil
    folder = tmp_path / "my run"
    shutil.copytree(tiny_run / "ckpt", folder)
    code, err = run_cli(rnn_rbm_train, ["2", "--resume", "--checkpoint-dir", str(folder), "--data", str(tiny_run / "songs"),
                                        "--cache-dir", str(tiny_run / "cache")], capsys)
    assert code == 0
    assert f"next: python rnn_rbm_generate.py {shlex.quote(str(folder / 'epoch_2.ckpt'))}" in err


def test_training_draws_its_loss_curve(tiny_run):
    with open(tiny_run / "ckpt" / "training_log.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("model, cell", [("rnn-rbm", "lstm"), ("rnn-rbm", "gru"), ("rnn-nade", "rnn"),
                                         ("rnn-nade", "lstm"), ("rnn", "rnn"), ("rnn", "gru"), ("rtrbm", "rnn"),
                                         ("rnn-dbn", "lstm"), ("rnn-dbn", "gru")])
def test_every_model_and_cell_pretrains_trains_resumes_generates_and_evaluates(tmp_path, monkeypatch, capsys, model,
                                                                               cell):
    path = str(tmp_path / "tiny.pickle")
    tiny_dataset(path)
    common = ["--data", path, "--cache-dir", "", "--quiet"]
    init_dir = str(tmp_path / "init")
    assert weight_initializations.main([*common, "--checkpoint-dir", init_dir, "--preset", "paper", "--cell", cell,
                                        "--model", model, "--n-hidden", "6", "--n-hidden-recurrent", "5",
                                        "--pretrain-epochs", "1", "--rnn-pretrain-epochs", "0" if model in ("rnn", "rtrbm") else "1",
                                        "--optimizer", "adam", *(["--dbn-layers", "6,4,3"] if model == "rnn-dbn" else [])]) == 0
    init = os.path.join(init_dir, "initialized.ckpt")
    assert checkpoints.load_hparams(init)[0].cell == cell
    assert checkpoints.load_hparams(init)[0].model == model
    train = [*common, "--k-train", "2", "--batch-songs", "2", "--transpose", "2", "--save-every", "1",
             "--optimizer", "adam", "--lr", "0.01"]
    assert rnn_rbm_train.main(["2", "--init", init, "--checkpoint-dir", str(tmp_path / "straight"), *train]) == 0

    monkeypatch.setattr(training, "train_epoch", interrupted_in_epoch(2))
    assert rnn_rbm_train.main(["2", "--init", init, "--checkpoint-dir", str(tmp_path / "broken"), *train]) == 0
    monkeypatch.undo()
    assert rnn_rbm_train.main(["2", "--resume", "--checkpoint-dir", str(tmp_path / "broken"), *common]) == 0
    straight, resumed = (weights(str(tmp_path / run / "epoch_2.ckpt")) for run in ("straight", "broken"))
    if model == "rtrbm":                      # its state is its 6 hidden units; no RNN of its own
        assert straight["Wuh"].shape == (6, 6) and "Wuu" not in straight
        with pytest.raises(ValueError, match="also its recurrence's"):
            sharpen_checkpoint.sharpen(str(tmp_path / "straight" / "epoch_2.ckpt"), str(tmp_path / "sharp.ckpt"), 1.5)
    else:
        assert straight["Wuu"].shape == (5, 5 * rnn_rbm.GATES[cell])
    if model == "rnn-dbn":                    # three layers: W2, W3, and every layer's biases set by the RNN
        assert straight["W2"].shape == (6, 4) and straight["W3"].shape == (4, 3)
        assert straight["Wuh"].shape == (5, 6 + (6 + 4) + (4 + 3))
        sharp = sharpen_checkpoint.sharpen(str(tmp_path / "straight" / "epoch_2.ckpt"), str(tmp_path / "sharp.ckpt"), 1.5)
        sharpened = weights(sharp)
        for name in ("W", "W2", "W3", "bh", "Wuh"):
            np.testing.assert_allclose(sharpened[name], 1.5 * straight[name], rtol=1e-6, err_msg=name)
        np.testing.assert_array_equal(sharpened["Wuu"], straight["Wuu"])
    for name in straight:
        np.testing.assert_allclose(resumed[name], straight[name], rtol=1e-6, atol=1e-7, err_msg=name)

    last = str(tmp_path / "straight" / "epoch_2.ckpt")
    songs = rnn_rbm_generate.main([last, "--primer", f"{path}:test:1", "--length", "6", "--k-generate", "2",
                                   "--out", str(tmp_path / "songs"), "--seed", "1", "--quiet"])
    assert len(songs) == 3
    capsys.readouterr()
    assert rnn_rbm_evaluate.main([last, "--dataset", path, "--chains", "4", "--betas", "20", "--base-chains", "2"]) == 0
    out = capsys.readouterr()
    ll = float(out.out.strip().splitlines()[-1].split("LL/frame ")[1].split()[0])
    assert -60 < ll < 0
    assert ("exact LL" in out.err) == rnn_rbm.exact(checkpoints.load_hparams(last)[0])
    assert out.out.strip().endswith("(lower bound)") == (model == "rnn-dbn")
