"""A checkpoint's files, written and read here only: the model's variables (<path>.index,
<path>.data-*) and <path>.hparams.json, which holds

    {"hparams": {...every HParams field...}, "run": {...the run's state: epoch, cost, data, ...}}

An unknown key in either part is an error that names it. Files of the older flat layout, the
shipped ones among them, still load.
"""
import dataclasses
import glob
import json
import os
import re

import config
import rnn_rbm
from tf1 import tf

DEFAULT_DIR = "parameter_checkpoints"
# The checkpoints that ship with the project live where training never writes, and where
# `latest` and --resume never look: pretrained.ckpt under its own name, the benchmark models
# in a subfolder.
SHIPPED_BENCHMARKS = os.path.join(DEFAULT_DIR, "benchmarks")
# What a training run writes, and all that `latest`, a run folder and --resume look at.
RUN_CHECKPOINT = re.compile(r"(epoch_\d+|interrupted)\.ckpt")


# What a run records beside its hyper-parameters.
RUN_KEYS = {
    "epoch": "training epochs finished (or, with stage, epochs of that pretraining stage)",
    "cost": "the mean training cost of the last epoch",
    "data": "the --data it trained on",
    "split": "the split of a .pickle --data",
    "init": "the checkpoint training started from",
    "stage": "an interrupted pretraining's stage, 'rbm' or 'rnn'",
    "pretrain_cost": "the last cost of pretraining the frame distribution (CD for an RBM, -log p otherwise)",
    "rnn_pretrain_nll": "the last -log p per row of RNN pretraining",
    "alpha": "the inverse temperature of a sharpened checkpoint (sharpen_checkpoint.py)",
    "sharpened_from": "the checkpoint it was sharpened from",
    "stacked_from": "the RNN-RBM checkpoint a DBN was stacked on (weight_initializations.py --stack)",
}


def hparams_path(checkpoint):
    return checkpoint + ".hparams.json"


def write_hparams(hp, checkpoint, run):
    """Write the hyper-parameters and the run state `run` beside `checkpoint`."""
    unknown = sorted(set(run) - set(RUN_KEYS))
    if unknown:
        raise ValueError(f"unknown run state {', '.join(unknown)}: add it to checkpoints.RUN_KEYS")
    path = hparams_path(checkpoint)
    with open(path + ".tmp", "w") as f:
        json.dump({"hparams": dataclasses.asdict(hp), "run": run}, f, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)


def load_hparams(checkpoint):
    """(HParams, run state) stored beside `checkpoint`, from either layout of hparams.json."""
    path = hparams_path(checkpoint)
    try:
        with open(path) as f:
            record = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"{path} not found: a checkpoint needs the hparams.json that training writes "
                         "beside it; pass a checkpoint written by this project's scripts") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}); restore it or use another checkpoint") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} holds no JSON object; restore it or use another checkpoint")
    names = {field.name for field in dataclasses.fields(config.HParams)}
    if set(record) == {"hparams", "run"}:
        hparams, run = record["hparams"], record["run"]
        unknown = [f"hyper-parameter {key!r}" for key in sorted(set(hparams) - names)]
        unknown += [f"run key {key!r}" for key in sorted(set(run) - set(RUN_KEYS))]
    else:                                            # the older flat layout: both parts in one object
        hparams = {key: value for key, value in record.items() if key in names}
        run = {key: value for key, value in record.items() if key not in names}
        unknown = [f"key {key!r}" for key in sorted(set(run) - set(RUN_KEYS))]
    if unknown:
        raise ValueError(f"{path} has an unknown {', '.join(unknown)}; fix or remove it "
                         f"(hyper-parameters are listed in config.py, run keys in checkpoints.RUN_KEYS)")
    return config.HParams(**hparams).validate(), run


def make_saver(params, extra=None):
    """A Saver keyed on the paper's names (W, bv, ...), whatever TF called the variables, plus
    the variables of `extra` ({name: variable}, e.g. the optimizer's moments) under their keys."""
    own = rnn_rbm.named_variables(params)          # a model's unused fields are None, a DBN's W_dbn W2, W3, ..
    return tf.train.Saver({**own, **(extra or {})}, max_to_keep=None, save_relative_paths=True)


def holds(path, names):
    """Whether checkpoint `path` has a variable under every one of `names`."""
    saved = {name for name, _ in tf.train.list_variables(path)}
    return set(names) <= saved


def remove(path):
    """Delete checkpoint `path`'s files, the .index first so that it never looks whole while half gone."""
    suffixes = sorted((name[len(path):] for name in glob.glob(glob.escape(path) + ".*")), key=lambda s: s != ".index")
    for suffix in suffixes:
        os.remove(path + suffix)


def save(sess, saver, path, hp, **run):
    """Write checkpoint `path` (e.g. parameter_checkpoints/epoch_5.ckpt) and its hparams.json.

    Every file is written under a temporary name first. The .index file, renamed into place
    last, is what makes a checkpoint exist; an older checkpoint of the same name is unlisted
    (its .index removed) before its files are replaced. So a process killed at any moment,
    kill -9 included, leaves every other checkpoint whole, and this one either whole or absent.
    """
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    saver.save(sess, tmp, write_meta_graph=False, write_state=False)
    write_hparams(hp, tmp, run)
    parts = [written[len(tmp):] for written in glob.glob(glob.escape(tmp) + ".*")]
    if os.path.exists(path + ".index"):
        os.remove(path + ".index")
    for suffix in sorted(parts, key=lambda suffix: suffix == ".index"):   # the .index goes last
        os.replace(tmp + suffix, path + suffix)
    return path


def restore(sess, saver, path):
    """Load checkpoint `path` into the session; a checkpoint that does not fit the graph is a ValueError."""
    try:
        saver.restore(sess, path)
    except (tf.errors.OpError, ValueError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"checkpoint {path} cannot be loaded into this model ({first_line[:300]}); "
                         "its files may be damaged or not match its hparams.json. Use another checkpoint") from None


def exists(path):
    return os.path.exists(path + ".index")


def check_exists(path, hint):
    if not exists(path):
        raise ValueError(f"checkpoint {path} not found (no {path}.index); {hint}")


def epoch_checkpoints(directory):
    """[(epoch, path)] of the epoch_<n>.ckpt checkpoints in `directory`, oldest first."""
    found = []
    for index in glob.glob(os.path.join(glob.escape(directory), "epoch_*.ckpt.index")):
        match = re.fullmatch(r"epoch_(\d+)\.ckpt\.index", os.path.basename(index))
        if match:
            found.append((int(match.group(1)), index[:-len(".index")]))
    return sorted(found)


def all_checkpoints(directory):
    """Paths of every checkpoint (with its hparams.json) in `directory`, oldest first by time written."""
    found = [index[:-len(".index")] for index in glob.glob(os.path.join(glob.escape(directory), "*.ckpt.index"))]
    found = [path for path in found if os.path.exists(hparams_path(path))]
    return sorted(found, key=lambda path: (os.path.getmtime(path + ".index"), path))


def run_checkpoints(directory):
    """Paths of the checkpoints that training wrote in `directory` (epoch_<n>.ckpt, interrupted.ckpt),
    oldest first by time written. Shipped, pretraining and hand-made checkpoints are not among them."""
    def written(path):       # within one clock tick, interrupted.ckpt comes last, then the higher epoch
        name = os.path.basename(path)
        return os.path.getmtime(path + ".index"), name == "interrupted.ckpt", int(re.sub(r"\D", "", name) or 0)
    return sorted((path for path in all_checkpoints(directory) if RUN_CHECKPOINT.fullmatch(os.path.basename(path))),
                  key=written)


def resolve(name, default_dir=DEFAULT_DIR):
    """A checkpoint path from what a user typed: a path, 'latest', or a training-run folder.

    'latest' is the newest run checkpoint (epoch_<n>.ckpt or interrupted.ckpt) in `default_dir`;
    a folder gives its newest run checkpoint. A path to one of a checkpoint's files (.index,
    .data-..., .hparams.json) means the checkpoint.
    """
    if name == "latest" or os.path.isdir(name):
        folder = default_dir if name == "latest" else name
        found = run_checkpoints(folder) if os.path.isdir(folder) else []
        if not found:
            others = [os.path.basename(path) for path in all_checkpoints(folder)] if os.path.isdir(folder) else []
            raise ValueError(f"no checkpoint of a training run (epoch_<n>.ckpt, interrupted.ckpt) in {folder}/"
                             f"{'; it holds ' + ', '.join(others) + ', pass one by its path' if others else ''}; "
                             "train one with `python rnn_rbm_train.py <epochs>` or pass "
                             "parameter_checkpoints/pretrained_nade_sharpened.ckpt")
        return found[-1]
    match = re.fullmatch(r"(.*\.ckpt)(\.index|\.data-\d+-of-\d+|\.hparams\.json)", name)
    return match.group(1) if match else name
