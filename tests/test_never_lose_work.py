"""Training survives Ctrl-C, kill -9, divergence and resumption; checkpoints are checked before use."""
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from tf1 import tf

import checkpoints
import config
import rnn_rbm_generate
import rnn_rbm_train
import training
import weight_initializations
from conftest import ROOT, TINY_MODEL, TINY_TRAIN, run_cli, write_midi

SMALL = [*TINY_TRAIN, "--quiet"]


@pytest.fixture
def setup(tiny_run):
    """(working folder, songs folder, initialized.ckpt) of the shared tiny model."""
    return tiny_run, str(tiny_run / "songs"), str(tiny_run / "ckpt" / "initialized.ckpt")


def train_args(setup, folder, *extra):
    root, data, init = setup
    return ["--data", data, "--checkpoint-dir", str(root / folder), "--cache-dir", "", *SMALL, *extra]


def weights(path):
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_resume_after_an_interrupt_ends_where_an_uninterrupted_run_ends(setup, monkeypatch, optimizer):
    root, _, init = setup
    options = ["--save-every", "1", "--optimizer", optimizer, "--lr", "0.01"]
    straight_dir, broken_dir = f"straight_{optimizer}", f"broken_{optimizer}"
    assert rnn_rbm_train.main(["4", "--init", init, *train_args(setup, straight_dir, *options)]) == 0

    real = training.train_epoch

    def interrupted_in_epoch_3(sess, model, song_rows, hp, epoch, check):
        cost = real(sess, model, song_rows, hp, epoch, check)     # epoch 3 changes the weights, then Ctrl-C
        if epoch == 3:
            raise KeyboardInterrupt
        return cost
    monkeypatch.setattr(training, "train_epoch", interrupted_in_epoch_3)
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
    assert saved["W"].shape == (780, 8)


def test_ctrl_c_sets_a_flag_that_training_reads_and_a_second_press_interrupts():
    ctrl_c = training.CtrlC()
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
    ctrl_c = training.CtrlC()
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
        ctrl_c = training.CtrlC()
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
            checkpoints.load_hparams(path)
    epochs = [e for e, _ in checkpoints.epoch_checkpoints(str(folder))]
    assert epochs == list(range(1, len(epochs) + 1))        # each resume went on where the last one stopped


def test_mismatched_and_damaged_checkpoints_are_refused(setup, tmp_path):
    root, _, init = setup
    damaged = str(tmp_path / "damaged.ckpt")
    for suffix in (".index", ".data-00000-of-00001", ".hparams.json"):
        with open(init + suffix, "rb") as src, open(damaged + suffix, "wb") as dst:
            data = src.read()
            dst.write(data[:len(data) // 2] if suffix.startswith(".data") else data)
    with pytest.raises(ValueError, match="damaged.ckpt cannot be loaded"):
        rnn_rbm_generate.main([damaged, "--out", str(tmp_path), "--quiet"])


def run_script(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_bad_values_get_one_line_and_exit_2(setup, tmp_path, capsys):
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
    scripts = {"rnn_rbm_train.py": rnn_rbm_train, "rnn_rbm_generate.py": rnn_rbm_generate,
               "weight_initializations.py": weight_initializations}
    for i, (args, message) in enumerate(cases):
        args = args + (["--out", str(tmp_path / "out")] if args[0] == "rnn_rbm_generate.py"
                       else ["--checkpoint-dir", str(tmp_path / "ck")])
        if i == 0:                                    # one as a process, the others in this one (the same path)
            result = run_script(*args)
            code, err = result.returncode, result.stderr
        else:
            code, err = run_cli(scripts[args[0]], args[1:], capsys)
        assert code == 2, (args, err)
        assert message in err and "Traceback" not in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err


# --- the default folder, beside the shipped checkpoints, as a user runs the scripts ---

@pytest.fixture(scope="module")
def user_copy(tmp_path_factory, tiny_run):
    """A copy of the project (scripts and shipped checkpoints) with tiny songs, where the scripts run
    with their default --checkpoint-dir. The shipped checkpoints are touched to be the newest files
    and record more epochs than any run here: neither may make them the run to resume."""
    copy = tmp_path_factory.mktemp("user")
    for name in os.listdir(ROOT):
        if name.endswith(".py"):
            shutil.copy(os.path.join(ROOT, name), copy / name)
    shutil.copytree(os.path.join(ROOT, "parameter_checkpoints"), copy / "parameter_checkpoints",
                    ignore=lambda folder, names: [n for n in names if not n.startswith(("pretrained.ckpt", "benchmarks",
                                                                                          "jsb_paper", "nottingham_paper"))])
    shutil.copytree(tiny_run / "songs", copy / "songs")
    other = copy / "other_songs"
    other.mkdir()
    write_midi(str(other / "c.mid"), [(50 + (i % 7), 120 * i, 120 * (i + 1)) for i in range(64)])
    return copy


def run_in(folder, *args, timeout=180):
    return subprocess.run([sys.executable, *args], cwd=folder, capture_output=True, text=True, timeout=timeout)


def touch_shipped(copy):
    later = time.time() + 60
    for dirpath, _, names in os.walk(copy / "parameter_checkpoints"):
        for name in names:
            if name.startswith(("pretrained.ckpt", "jsb_paper", "nottingham_paper")):
                os.utime(os.path.join(dirpath, name), (later, later))


def test_shipped_benchmarks_stay_out_of_the_training_folder():
    shipped = os.path.join(ROOT, "parameter_checkpoints")
    assert checkpoints.exists(os.path.join(ROOT, checkpoints.SHIPPED_BENCHMARKS, "jsb_paper.ckpt"))
    assert checkpoints.exists(os.path.join(ROOT, checkpoints.SHIPPED_BENCHMARKS, "nottingham_paper.ckpt"))
    assert not any(os.path.basename(p).startswith(("jsb", "nottingham")) for p in checkpoints.all_checkpoints(shipped))


def test_kill_9_then_resume_continues_the_killed_run_in_the_default_folder(user_copy):
    small = [a for a in SMALL if a != "--quiet"]
    pre = run_in(user_copy, "weight_initializations.py", "--data", "songs", "--pretrain-epochs", "2", "--cache-dir", "",
                 *TINY_MODEL)
    assert pre.returncode == 0, pre.stderr
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
    cases = [(["--data", "other_songs"], "data: run songs, asked other_songs"),
             (["--data", "songs", "--lr", "0.5"], "lr: run 0.01, asked 0.5"),
             (["--data", "songs", "--k-train", "9"], "k_train: run 2, asked 9"),
             ([], "data: run songs, asked Pop_Music_Midi")]
    for i, (options, difference) in enumerate(cases):
        argv = ["1000", "--resume", "--cache-dir", "", *options]
        if i == 0:                                    # one as a process, the others in this one (the same path)
            result = run_in(user_copy, "rnn_rbm_train.py", *argv)
            code, err = result.returncode, result.stderr
        else:
            monkeypatch.chdir(user_copy)
            code, err = run_cli(rnn_rbm_train, argv, capsys)
        assert code == 2, (options, err)
        assert len(err.strip().splitlines()) == 1, err
        assert difference in err and newest in err and "--checkpoint-dir" in err, err
    fresh = run_in(user_copy, "rnn_rbm_train.py", "3", "--data", "songs", "--cache-dir", "")
    assert fresh.returncode == 2 and "already holds a training run" in fresh.stderr, fresh.stderr
    assert sorted(os.listdir(folder)) == before                 # nothing written, nothing lost


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
