"""weight_initializations.py: pretraining, its Ctrl-C and --resume."""
import os
import signal
import subprocess
import sys
import time

import numpy as np

import checkpoints
import rnn_rbm_train
import weight_initializations
from conftest import TINY_MODEL, run_cli, weights

def read_stderr_until(proc, text, timeout=120):
    """Read the child's stderr (progress bars included) until `text` appears; returns what was read."""
    seen, end = "", time.time() + timeout
    os.set_blocking(proc.stderr.fileno(), False)
    while text not in seen:
        assert time.time() < end and proc.poll() is None, f"never saw {text!r}; stderr: {seen}"
        chunk = proc.stderr.read()
        seen += chunk.decode(errors="replace") if chunk else ""
        time.sleep(0.05)
    os.set_blocking(proc.stderr.fileno(), True)
    return seen


def test_ctrl_c_during_pretraining_saves_exits_0_and_resume_finishes_it(user_copy, tmp_path, monkeypatch, capsys):
    checkpoint_dir = str(tmp_path / "pre")
    common = ["--data", "songs", "--cache-dir", "", "--checkpoint-dir", checkpoint_dir]
    proc = subprocess.Popen([sys.executable, "weight_initializations.py", *common, *TINY_MODEL, "--pretrain-epochs", "2",
                             "--rnn-pretrain-epochs", "100000", "--optimizer", "adam"],
                            cwd=user_copy, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        read_stderr_until(proc, "pretraining RNN:")
        read_stderr_until(proc, "nll=")                          # an RNN epoch is done
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    err = err.decode()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "weight_initializations.py --resume" in err, err
    interrupted = os.path.join(checkpoint_dir, "pretraining_interrupted.ckpt")
    hp, run = checkpoints.load_hparams(interrupted)
    assert run["stage"] == "rnn" and run["epoch"] >= 1 and hp.rnn_pretrain_epochs == 100000
    assert {"bo", "adam/bo/m", "adam/Wuu/v", "adam/beta2_power"} <= set(weights(interrupted))
    assert not checkpoints.exists(os.path.join(checkpoint_dir, "initialized.ckpt"))

    # training says where the pretraining stands (in this process, as the command line runs it)
    monkeypatch.chdir(user_copy)
    code, err = run_cli(rnn_rbm_train, ["1", *common], capsys)
    assert code == 2 and "pretraining was interrupted" in err, err

    code, err = run_cli(weight_initializations, ["--resume", *common, "--rnn-pretrain-epochs", str(run["epoch"] + 1)],
                        capsys)
    assert code == 0, err
    assert f"resuming {interrupted} after RNN pretraining epoch {run['epoch']}" in err
    _, final = checkpoints.load_hparams(os.path.join(checkpoint_dir, "initialized.ckpt"))
    assert np.isfinite(final["rnn_pretrain_nll"]) and np.isfinite(final["pretrain_cost"])
    assert not checkpoints.exists(interrupted)


def test_initialized_checkpoint_carries_its_hparams(tiny_run):
    hp, extra = checkpoints.load_hparams(str(tiny_run / "ckpt" / "initialized.ckpt"))
    assert hp.n_hidden == 8 and hp.n_hidden_recurrent == 6 and hp.pretrain_epochs == 1
    assert np.isfinite(extra["pretrain_cost"])


def test_minutes_stops_each_stage_after_the_epoch_that_spends_them_and_records_the_epochs_done(user_copy, tmp_path,
                                                                                                monkeypatch, capsys):
    monkeypatch.chdir(user_copy)
    folder = str(tmp_path / "pre")
    code, err = run_cli(weight_initializations, ["--data", "songs", "--cache-dir", "", "--checkpoint-dir", folder,
                                                 *TINY_MODEL, "--model", "rnn-nade", "--pretrain-epochs", "50",
                                                 "--rnn-pretrain-epochs", "50", "--minutes", "0.00001"], capsys)
    assert code == 0, err
    hp, run = checkpoints.load_hparams(os.path.join(folder, "initialized.ckpt"))
    assert (hp.model, hp.pretrain_epochs, hp.rnn_pretrain_epochs) == ("rnn-nade", 1, 1)
    assert np.isfinite(run["pretrain_cost"]) and 0 < run["pretrain_cost"] < 8 * 24 * np.log(2)
    assert "V" in weights(os.path.join(folder, "initialized.ckpt"))


def test_the_next_command_it_prints_names_the_folder_and_data_it_used(tiny_run, tmp_path, capsys):
    folder, songs = tmp_path / "my run", tiny_run / "songs"
    code, err = run_cli(weight_initializations, ["--data", str(songs), "--cache-dir", str(tiny_run / "cache"),
                                                 "--checkpoint-dir", str(folder), *TINY_MODEL, "--pretrain-epochs", "0"],
                        capsys)
    assert code == 0
    assert (f"(RBM with CD-1 not pretrained); next: python rnn_rbm_train.py <epochs> --checkpoint-dir '{folder}' "
            f"--data {songs}\n") in err


def test_a_dbn_pretrains_layer_by_layer_and_ctrl_c_in_its_second_layer_resumes_to_the_same_weights(tmp_path,
                                                                                                    monkeypatch, capsys):
    import pickle
    rng = np.random.default_rng(0)
    data = {split: [[[60 + int(k) for k in np.flatnonzero(rng.random(7) < 0.4)] for _ in range(20)] for _ in range(3)]
            for split in ("train", "valid", "test")}
    path = str(tmp_path / "tiny.pickle")
    with open(path, "wb") as f:
        pickle.dump(data, f)
    common = ["--data", path, "--cache-dir", "", "--preset", "paper", "--model", "rnn-dbn", "--dbn-layers", "5,4",
              "--lowest-note", "60", "--highest-note", "66", "--n-hidden-recurrent", "3", "--pretrain-epochs", "2"]
    assert weight_initializations.main([*common, "--checkpoint-dir", str(tmp_path / "straight"), "--quiet"]) == 0
    real = weight_initializations.pretrain_frames

    def pressed_in_epoch_3(*args):
        for epoch, cost in real(*args):
            if epoch == 3:                     # the second layer's first epoch has changed its weights
                raise KeyboardInterrupt
            yield epoch, cost
    monkeypatch.setattr(weight_initializations, "pretrain_frames", pressed_in_epoch_3)
    code, err = run_cli(weight_initializations, [*common, "--checkpoint-dir", str(tmp_path / "broken")], capsys)
    assert code == 0 and "after RBM epoch 2" in err, err
    monkeypatch.undo()
    assert weight_initializations.main(["--resume", "--data", path, "--cache-dir", "", "--checkpoint-dir",
                                        str(tmp_path / "broken"), "--quiet"]) == 0
    straight, resumed = (weights(str(tmp_path / run / "initialized.ckpt")) for run in ("straight", "broken"))
    assert straight["W2"].shape == (5, 4) and straight["bh"].shape == (5 + 5 + 4,)
    for name in straight:
        np.testing.assert_allclose(resumed[name], straight[name], rtol=1e-6, atol=1e-7, err_msg=name)
    untrained = [*common[:-1], "0", "--checkpoint-dir", str(tmp_path / "untrained"), "--quiet"]
    assert weight_initializations.main(untrained) == 0
    start = weights(str(tmp_path / "untrained" / "initialized.ckpt"))
    assert np.abs(straight["W2"] - start["W2"]).max() > 1e-3          # the second layer trained too
    assert np.abs(straight["bh"][5:] - start["bh"][5:]).max() > 1e-3


def test_stack_starts_a_dbn_at_a_trained_rnn_rbm_and_refuses_what_does_not_fit(tiny_run, tmp_path, capsys):
    source = str(tiny_run / "ckpt" / "epoch_1.ckpt")
    folder = tmp_path / "dbn"
    common = ["--data", str(tiny_run / "songs"), "--cache-dir", str(tiny_run / "cache"), "--checkpoint-dir", str(folder)]
    code, err = run_cli(weight_initializations, ["--stack", source, *common], capsys)     # two layers of 8 < 780 keys
    assert code == 2 and "layer 2 has 8 units, fewer than the 780" in err and "--dbn-layers" in err
    code, err = run_cli(weight_initializations, ["--stack", source, "--dbn-layers", "8,780", *common], capsys)
    assert code == 0 and "stacked on" in err and "next: python rnn_rbm_train.py <epochs>" in err
    stacked = str(folder / "initialized.ckpt")
    hp, run = checkpoints.load_hparams(stacked)
    assert hp.model == "rnn-dbn" and hp.hidden_layers == (8, 780) and run["stacked_from"] == source
    dbn, rbm = weights(stacked), weights(source)
    for name in ("W", "bv", "Wuv", "Wvu", "Wuu", "bu", "u0"):
        np.testing.assert_array_equal(dbn[name], rbm[name], err_msg=name)
    np.testing.assert_array_equal(dbn["W2"], rbm["W"].T)              # the second RBM starts as the first's transpose
    for packed, own, visible in (("bh", "bh", "bv"), ("Wuh", "Wuh", "Wuv")):    # c_1, then b_2 = c_1 and c_2 = b_1
        np.testing.assert_array_equal(dbn[packed][..., :8], rbm[own])
        np.testing.assert_array_equal(dbn[packed][..., 8:16], rbm[own])
        np.testing.assert_array_equal(dbn[packed][..., 16:], rbm[visible])
    assert rnn_rbm_train.main(["1", "--data", str(tiny_run / "songs"), "--cache-dir", str(tiny_run / "cache"),
                               "--checkpoint-dir", str(folder), "--k-train", "2", "--quiet"]) == 0
    assert checkpoints.load_hparams(str(folder / "epoch_1.ckpt"))[0].model == "rnn-dbn"
    code, err = run_cli(weight_initializations, ["--stack", str(folder / "epoch_1.ckpt"), *common], capsys)
    assert code == 2 and "is a rnn-dbn checkpoint; --stack takes an RNN-RBM's" in err
    code, err = run_cli(weight_initializations, ["--stack", source, "--cell", "gru", *common], capsys)
    assert code == 2 and "--stack keeps" in err and "cell" in err
    code, err = run_cli(weight_initializations, ["--stack", source, "--dbn-layers", "8,780", "--data",
                                                 str(tiny_run / "songs"), "--checkpoint-dir", str(tiny_run / "ckpt")], capsys)
    assert code == 2 and "holds a training run" in err and "--checkpoint-dir <a new folder>" in err
    assert checkpoints.load_hparams(str(tiny_run / "ckpt" / "initialized.ckpt"))[0].model == "rnn-rbm"   # untouched
