"""A checkpoint's hparams.json: its two parts, its older layout, and unknown keys; the shipped
checkpoints, and that every one the README names is in the repository."""
import json
import os
import re
import subprocess

import pytest

import checkpoints
import config
import rnn_rbm_generate
from conftest import ROOT

SHIPPED = sorted(os.path.basename(path) for path in checkpoints.all_checkpoints(os.path.join(ROOT, "parameter_checkpoints"))
                 if os.path.basename(path).startswith("pretrained")) + sorted(
    os.path.join("benchmarks", os.path.basename(path)) for path in checkpoints.all_checkpoints(
        os.path.join(ROOT, checkpoints.SHIPPED_BENCHMARKS)))


def test_every_checkpoint_the_readme_runs_is_committed():
    """A shipped checkpoint that .gitignore keeps out works here and nowhere else."""
    try:
        tracked = set(subprocess.run(["git", "ls-files", "parameter_checkpoints"], cwd=ROOT, capture_output=True,
                                     text=True, check=True).stdout.split())
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: cannot tell which files are committed")
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    named = set(re.findall(r"parameter_checkpoints/(pretrained\w*)\.ckpt", readme))
    named |= {f"benchmarks/{name}" for name in re.findall(r"\$S/(\w+)\.ckpt", readme)}
    assert "pretrained" in named and len(named) > 2
    for name in sorted(named):
        for part in (".index", ".data-00000-of-00001", ".hparams.json"):
            assert f"parameter_checkpoints/{name}.ckpt{part}" in tracked, \
                f"the README names parameter_checkpoints/{name}.ckpt but {part} is not committed (see .gitignore)"


def test_hparams_and_run_state_are_kept_apart(tmp_path):
    path = str(tmp_path / "a.ckpt")
    hp = config.preset("paper", epochs=300, lr=0.001)
    checkpoints.write_hparams(hp, path, {"epoch": 200, "cost": -1.5, "data": "songs", "init": "x.ckpt"})
    with open(path + ".hparams.json") as f:
        record = json.load(f)
    assert set(record) == {"hparams", "run"}
    assert record["hparams"]["epochs"] == 300 and "epoch" not in record["hparams"]
    assert record["run"] == {"epoch": 200, "cost": -1.5, "data": "songs", "init": "x.ckpt"}
    assert checkpoints.load_hparams(path) == (hp, record["run"])


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_checkpoint_loads_and_the_older_flat_layout_means_an_rnn_rbm(name):
    path = os.path.join(ROOT, "parameter_checkpoints", name)
    with open(path + ".hparams.json") as f:
        record = json.load(f)
    hp, run = checkpoints.load_hparams(path)
    if any(word in name for word in ("nade", "lstm", "sharpened", "rtrbm", "dbn")):   # written after --model and --cell came
        assert set(record) == {"hparams", "run"}
        model = next((m for m in ("rnn-nade", "rtrbm", "rnn-dbn") if m.replace("rnn-", "") in name), "rnn-rbm")
        assert hp.model == model and hp.cell == ("lstm" if "lstm" in name or "dbn" in name else "rnn")   # DBN-LSTMs
        return
    flat = record
    assert "hparams" not in flat                     # the older layout, kept as it was written
    assert hp.n_hidden == flat["n_hidden"] and hp.lowest_note == flat["lowest_note"]
    assert run["epoch"] == flat["epoch"] and run["data"] == flat["data"]
    assert "model" not in flat and (hp.model, hp.cell) == ("rnn-rbm", "rnn")


@pytest.mark.parametrize("record, named", [
    ({"hparams": {"n_hiden": 5}, "run": {}}, "hyper-parameter 'n_hiden'"),
    ({"hparams": {}, "run": {"epochs_done": 3}}, "run key 'epochs_done'"),
    ({"n_hidden": 5, "lr_dacay": 0.1}, "key 'lr_dacay'"),
])
def test_an_unknown_key_is_an_error_that_names_it(tmp_path, record, named):
    path = str(tmp_path / "typo.ckpt")
    with open(path + ".hparams.json", "w") as f:
        json.dump(record, f)
    with pytest.raises(ValueError, match=f"typo.ckpt.hparams.json has an unknown {named}"):
        checkpoints.load_hparams(path)


def test_unknown_run_state_is_refused_when_written(tmp_path):
    with pytest.raises(ValueError, match="unknown run state seconds"):
        checkpoints.write_hparams(config.HParams(), str(tmp_path / "a.ckpt"), {"seconds": 3})


def test_a_damaged_checkpoint_is_refused(tiny_run, tmp_path):
    init = str(tiny_run / "ckpt" / "initialized.ckpt")
    damaged = str(tmp_path / "damaged.ckpt")
    for suffix in (".index", ".data-00000-of-00001", ".hparams.json"):
        with open(init + suffix, "rb") as src, open(damaged + suffix, "wb") as dst:
            data = src.read()
            dst.write(data[:len(data) // 2] if suffix.startswith(".data") else data)
    with pytest.raises(ValueError, match="damaged.ckpt cannot be loaded"):
        rnn_rbm_generate.main([damaged, "--out", str(tmp_path), "--quiet"])


def test_shipped_benchmarks_stay_out_of_the_training_folder():
    shipped = os.path.join(ROOT, "parameter_checkpoints")
    assert checkpoints.exists(os.path.join(ROOT, checkpoints.SHIPPED_BENCHMARKS, "jsb_paper.ckpt"))
    assert checkpoints.exists(os.path.join(ROOT, checkpoints.SHIPPED_BENCHMARKS, "nottingham_paper.ckpt"))
    assert not any(os.path.basename(p).startswith(("jsb", "nottingham")) for p in checkpoints.all_checkpoints(shipped))


def test_latest_and_run_folder_pick_the_newest_run_checkpoint(tiny_run, monkeypatch):
    ckpt_dir = tiny_run / "ckpt"
    future = os.path.getmtime(ckpt_dir / "epoch_1.ckpt.index") + 100
    os.utime(str(ckpt_dir / "initialized.ckpt.index"), (future, future))  # newer, but not a run checkpoint
    assert checkpoints.resolve(str(ckpt_dir)) == str(ckpt_dir / "epoch_1.ckpt")
    assert checkpoints.resolve(str(ckpt_dir / "epoch_1.ckpt.index")) == str(ckpt_dir / "epoch_1.ckpt")
    monkeypatch.chdir(tiny_run)
    os.symlink("ckpt", "parameter_checkpoints")
    paths = rnn_rbm_generate.main(["latest", "--length", "4", "--out", "latest_out", "--quiet"])
    assert len(paths) == 3
    with pytest.raises(ValueError, match="no checkpoint of a training run"):
        checkpoints.resolve(str(tiny_run / "songs"))
