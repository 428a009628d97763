"""One row of the results table, in one command: pretrain, train, choose on valid, evaluate on test.

    python reproduce.py <dataset.pickle> --model rnn-nade [--cell lstm] [--minutes 45] [--out DIR]

The dataset is a benchmark pickle in the 2012 paper's layout ({'train', 'valid', 'test'}: lists
of songs of lists of MIDI pitches). The recipe is the same for every such data set; what depends
on the data is chosen on its valid split, and test is read once, at the end:

1. Pretraining where the model has it: the RBM's CD-k (rnn-rbm), with at most a tenth of the
   budget (weight_initializations.py --minutes). The NADE and the Bernoulli units learn by
   exact gradients from the start and skip it.
2. The learning rate: one segment of training from the same start for each of the recipe's
   two rates; the one with the better valid LL goes on.
3. Training in segments of epochs, each about a twelfth of the budget (rnn_rbm_train.py
   --resume), the valid LL of each segment's checkpoint after it. When a segment does not beat
   the best valid LL so far, training starts again from the best checkpoint at a third of the
   learning rate (a new stage folder), until the budget is spent or the rate is a 30th of where
   it began.
4. The checkpoint with the best valid LL is evaluated on test (rnn_rbm_evaluate.py), with
   time kept back for it.

--minutes is the wall-clock budget of all four. Every step is one of this project's commands,
printed before it runs, so each can be rerun by hand; OUT/recipe.json records the choices and
every valid figure. The last line is rnn_rbm_evaluate.py's:
`<dataset> test: LL/frame -X.XXX ± s.e. nats  ACC YY.YY%`.
"""
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import time

import pandas as pd

import cli
import config
import datasets
import evaluation

log = logging.getLogger(__name__)

# What each model's recipe fixes. Everything else is config.py's paper preset.
RECIPES = {
    "rnn-rbm": dict(pretrain=["--pretrain-epochs", "100"], lrs=(1e-4, 3e-4),
                    select=["--chains", "20", "--betas", "200"], final=["--chains", "100", "--betas", "500"]),
    "rnn-nade": dict(pretrain=["--pretrain-epochs", "0"], lrs=(3e-3, 1e-2),
                     select=["--chains", "10"], final=["--chains", "100"]),
    "rnn": dict(pretrain=["--pretrain-epochs", "0"], lrs=(3e-3, 1e-2),
                select=["--chains", "10"], final=["--chains", "100"]),
}
TRAIN = ["--optimizer", "adam", "--batch-songs", "8"]   # every model: Adam over 8 lanes of songs
PRETRAIN_SHARE = 0.1       # of the budget, at most, for pretraining
SEGMENT_SHARE = 1 / 12     # of the budget, about, per segment of training
LR_DROP, LR_FLOOR = 3.0, 30.0
SELECT_FRAMES = 5000       # valid frames that choose between RBM checkpoints (AIS is slow); exact models use all


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("dataset", help="a benchmark .pickle in the 2012 paper's layout")
    parser.add_argument("--model", default="rnn-rbm", choices=config.MODELS, help="(default: %(default)s)")
    parser.add_argument("--cell", default="rnn", choices=("rnn", "lstm", "gru"), help="(default: %(default)s)")
    parser.add_argument("--minutes", type=float, default=45.0, help="wall-clock budget of the whole recipe (default: %(default)s)")
    parser.add_argument("--out", default=None, help="folder of the run (default: runs/<dataset>_<model>_<cell>)")
    parser.add_argument("--seed", type=int, default=0, help="seed of pretraining and training (default: %(default)s)")
    return parser


class Recipe:
    """The steps of one run, against a clock that ends at `deadline`."""

    def __init__(self, args):
        self.args, self.start = args, time.time()
        self.deadline = self.start + 60.0 * args.minutes
        self.recipe = RECIPES[args.model]
        self.out = args.out or os.path.join("runs", f"{evaluation.dataset_name(args.dataset)}_{args.model}_{args.cell}"
                                            .replace(" ", "_"))
        self.record = {"dataset": args.dataset, "model": args.model, "cell": args.cell, "minutes": args.minutes,
                       "seed": args.seed, "valid": [], "commands": []}
        self.eval_seconds = None       # of one valid evaluation
        data = datasets.load_pickle_dataset(args.dataset)
        frames = {split: [len(song) for song in data[split] if len(song)] for split in ("valid", "test")}
        self.valid_frames, self.test_frames = sum(frames["valid"]), sum(frames["test"])
        self.select = list(self.recipe["select"])
        if args.model == "rnn-rbm":      # AIS on the first songs of valid, up to SELECT_FRAMES frames
            songs = next((i for i in range(len(frames["valid"])) if sum(frames["valid"][:i + 1]) > SELECT_FRAMES),
                         len(frames["valid"]))
            self.select += ["--max-songs", str(max(1, songs))]
            self.valid_frames = sum(frames["valid"][:max(1, songs)])

    def left(self):
        return self.deadline - time.time()

    def run(self, script, *options):
        """Run one of the project's scripts; returns its standard output."""
        command = [script, *map(str, options)]
        self.record["commands"].append(shlex.join(["python", *command]))
        print(f"$ {shlex.join(['python', *command])}", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, *command], stdout=subprocess.PIPE, text=True)
        if done.returncode:
            raise RuntimeError(f"{script} failed (exit {done.returncode}); its messages are above. The run so far "
                               f"is in {self.out}/")
        return done.stdout

    def evaluate(self, checkpoint, split, settings):
        started = time.time()
        last = self.run("rnn_rbm_evaluate.py", checkpoint, "--dataset", self.args.dataset, "--split", split,
                        *settings, "--quiet").strip().splitlines()[-1]
        ll = float(re.search(r"LL/frame (\S+)", last).group(1))
        return ll, last, time.time() - started

    def select_on_valid(self, checkpoint, stage, lr):
        ll, _, seconds = self.evaluate(checkpoint, "valid", self.select)
        self.eval_seconds = seconds
        self.record["valid"].append({"checkpoint": checkpoint, "stage": stage, "lr": lr, "ll": ll})
        self.save_record()
        print(f"valid LL/frame {ll:.3f}: {checkpoint} (lr {lr:g}); {self.left() / 60:.1f} min left", file=sys.stderr)
        return ll

    def test_reserve(self):
        """Seconds kept back for the test evaluation: the last valid one's time, scaled to test's
        frames and to the final settings."""
        if self.eval_seconds is None:
            return 0.0
        cost = lambda s: int(s[s.index("--chains") + 1]) * (int(s[s.index("--betas") + 1]) if "--betas" in s else 1)
        scale = self.test_frames / self.valid_frames * cost(self.recipe["final"]) / cost(self.select)
        return self.eval_seconds * scale + 30.0

    def save_record(self):
        os.makedirs(self.out, exist_ok=True)
        with open(os.path.join(self.out, "recipe.json"), "w") as f:
            json.dump(self.record, f, indent=2)

    def pretrain(self):
        folder = os.path.join(self.out, "init")
        self.run("weight_initializations.py", "--data", self.args.dataset, "--preset", "paper", "--model",
                 self.args.model, "--cell", self.args.cell, "--seed", self.args.seed, *self.recipe["pretrain"],
                 *TRAIN, "--checkpoint-dir", folder, "--minutes", f"{PRETRAIN_SHARE * self.args.minutes:.3f}", "--quiet")
        return os.path.join(folder, "initialized.ckpt")

    def train(self, folder, epochs, init=None, lr=None, resume=False):
        """Train the run in `folder` up to `epochs`; returns its checkpoint and the mean seconds per epoch."""
        options = (["--resume", "--save-every", epochs] if resume else
                   ["--init", init, "--lr", lr, "--save-every", epochs, *TRAIN])
        self.run("rnn_rbm_train.py", epochs, "--data", self.args.dataset, "--checkpoint-dir", folder, *options,
                 "--quiet")
        seconds = pd.read_csv(os.path.join(folder, "training_log.csv"))["seconds"]
        return os.path.join(folder, f"epoch_{epochs}.ckpt"), float(seconds.mean())

    def fits(self, seconds):
        return self.left() - self.test_reserve() - (self.eval_seconds or 0.0) - 15.0 >= seconds

    def main(self):
        if os.path.exists(os.path.join(self.out, "recipe.json")):
            raise ValueError(f"{self.out}/ holds a run already; remove it or give another --out")
        init = self.pretrain()
        # 2. the learning rate: the same first segment from the same start at each rate
        first_lr = self.recipe["lrs"][0]
        folder = os.path.join(self.out, f"lr{first_lr:g}")
        checkpoint, per_epoch = self.train(folder, 1, init, first_lr)
        epochs = max(1, int(SEGMENT_SHARE * 60.0 * self.args.minutes / (per_epoch + 1e-9)))
        if epochs > 1:
            checkpoint, per_epoch = self.train(folder, epochs, resume=True)
        trials = [(self.select_on_valid(checkpoint, folder, first_lr), checkpoint, folder, first_lr)]
        for lr in self.recipe["lrs"][1:]:
            if not self.fits(epochs * per_epoch + 10):
                break
            folder = os.path.join(self.out, f"lr{lr:g}")
            checkpoint, _ = self.train(folder, epochs, init, lr)
            trials.append((self.select_on_valid(checkpoint, folder, lr), checkpoint, folder, lr))
        best = max(trials)
        _, _, folder, lr = best
        self.record["lr"] = lr
        # 3. segments; a new stage from the best checkpoint at a third of the rate after one that brings no gain
        done, stage, floor, new_stage = epochs, 0, lr / LR_FLOOR, False
        while self.fits(epochs * per_epoch + 10):
            if new_stage:
                if lr / LR_DROP < floor:
                    break
                stage, lr, done = stage + 1, lr / LR_DROP, epochs
                folder = os.path.join(self.out, f"stage{stage}")
                checkpoint, per_epoch = self.train(folder, epochs, best[1], lr)
            else:
                done += epochs
                checkpoint, per_epoch = self.train(folder, done, resume=True)
            ll = self.select_on_valid(checkpoint, folder, lr)
            new_stage = ll <= best[0]
            best = max(best, (ll, checkpoint, folder, lr))
        # 4. test, once
        self.record["chosen"] = best[1]
        self.record["chosen_valid_ll"] = best[0]
        ll, last, _ = self.evaluate(best[1], "test", self.recipe["final"])
        self.record.update(test_ll=ll, test_line=last, minutes_used=round((time.time() - self.start) / 60, 2))
        self.save_record()
        print(f"chose {best[1]} (valid LL/frame {best[0]:.3f}) after {self.record['minutes_used']} min; "
              f"record in {self.out}/recipe.json", file=sys.stderr)
        print(last)
        return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    if not args.minutes > 0:
        raise ValueError("--minutes must be a positive number of minutes")
    if not datasets.is_pickle_dataset(args.dataset):
        raise ValueError(f"{args.dataset} is not a benchmark .pickle; pass one in the 2012 paper's layout")
    return Recipe(args).main()


if __name__ == "__main__":
    sys.exit(cli.run(main))
