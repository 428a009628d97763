"""Saving and restoring the model's variables, always together with their hyper-parameters."""
import glob
import os
import re

import config
from tf1 import tf

DEFAULT_DIR = "parameter_checkpoints"
# The checkpoints that ship with the project live where training never writes, and where
# `latest` and --resume never look: pretrained.ckpt under its own name, the benchmark models
# in a subfolder.
SHIPPED_BENCHMARKS = os.path.join(DEFAULT_DIR, "benchmarks")
# What a training run writes, and all that `latest`, a run folder and --resume look at.
RUN_CHECKPOINT = re.compile(r"(epoch_\d+|interrupted)\.ckpt")


def make_saver(params, extra=None):
    """A Saver keyed on the paper's names (W, bv, ...), whatever TF called the variables, plus
    the variables of `extra` ({name: variable}, e.g. the optimizer's moments) under their keys."""
    return tf.train.Saver({**params._asdict(), **(extra or {})}, max_to_keep=None, save_relative_paths=True)


def holds(path, names):
    """Whether checkpoint `path` has a variable under every one of `names`."""
    saved = {name for name, _ in tf.train.list_variables(path)}
    return set(names) <= saved


def remove(path):
    """Delete checkpoint `path`'s files, the .index first so that it never looks whole while half gone."""
    suffixes = sorted((name[len(path):] for name in glob.glob(glob.escape(path) + ".*")), key=lambda s: s != ".index")
    for suffix in suffixes:
        os.remove(path + suffix)


def save(sess, saver, path, hp, **extra):
    """Write checkpoint `path` (e.g. parameter_checkpoints/epoch_5.ckpt) and its hparams.json.

    Every file is written under a temporary name first. The .index file, renamed into place
    last, is what makes a checkpoint exist; an older checkpoint of the same name is unlisted
    (its .index removed) before its files are replaced. So a process killed at any moment,
    kill -9 included, leaves every other checkpoint whole, and this one either whole or absent.
    """
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    saver.save(sess, tmp, write_meta_graph=False, write_state=False)
    config.save_hparams(hp, tmp, **extra)
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


def check_compatible(hp, saved_hp, path):
    """Refuse a checkpoint whose model hyper-parameters differ from the graph's."""
    mismatched = [f"{key}: checkpoint {getattr(saved_hp, key)}, asked {getattr(hp, key)}"
                  for key in hp.MODEL_KEYS if getattr(hp, key) != getattr(saved_hp, key)]
    if mismatched:
        raise ValueError(f"checkpoint {path} does not fit these hyper-parameters ({'; '.join(mismatched)}); "
                         "drop those options or use a matching checkpoint")


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
    found = [path for path in found if os.path.exists(config.hparams_path(path))]
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
                             "parameter_checkpoints/pretrained.ckpt")
        return found[-1]
    match = re.fullmatch(r"(.*\.ckpt)(\.index|\.data-\d+-of-\d+|\.hparams\.json)", name)
    return match.group(1) if match else name
