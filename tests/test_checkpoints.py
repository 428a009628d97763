"""A checkpoint's hparams.json: its two parts, its older layout, and unknown keys."""
import json
import os

import pytest

import checkpoints
import config
from conftest import ROOT

SHIPPED = ["pretrained.ckpt"] + sorted(
    os.path.join("benchmarks", os.path.basename(path)) for path in checkpoints.all_checkpoints(
        os.path.join(ROOT, checkpoints.SHIPPED_BENCHMARKS)))


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
def test_shipped_checkpoints_of_the_older_flat_layout_still_load(name):
    path = os.path.join(ROOT, "parameter_checkpoints", name)
    with open(path + ".hparams.json") as f:
        flat = json.load(f)
    assert "hparams" not in flat                     # the older layout, kept as it was written
    hp, run = checkpoints.load_hparams(path)
    assert hp.n_hidden == flat["n_hidden"] and hp.lowest_note == flat["lowest_note"]
    assert run["epoch"] == flat["epoch"] and run["data"] == flat["data"]


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
