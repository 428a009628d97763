"""One row of the results table, in one command: pretrain, train, choose on valid, evaluate on test.

    python reproduce.py <dataset.pickle> --model rnn-nade [--cell lstm] [--optimizer hf] [--minutes 45] [--out DIR]

The dataset is a benchmark pickle in the 2012 paper's layout ({'train', 'valid', 'test'}: lists
of songs of lists of MIDI pitches). The recipe is the same for every such data set; what depends
on the data is chosen on its valid split, and test is read once, at the end:

1. Pretraining where the model has it: the RBM's CD-k (rnn-rbm), with at most a tenth of the
   budget (weight_initializations.py --minutes). The NADE and the Bernoulli units learn by
   exact gradients from the start and skip it.
2. The learning rate: one segment of training from the same start for each of the recipe's
   two rates; the one whose best checkpoint has the better valid LL goes on. A segment has
   four checkpoints, each evaluated on valid (as `rnn_rbm_evaluate.py <checkpoint> --split
   valid` would, in this process), with at least twice an evaluation's time of training
   between two, and takes at most about a twelfth of the budget.
3. Training in the songs' own keys, in segments (rnn_rbm_train.py --resume), with at most half
   of the time left (all of it where the other half could not hold two segments of 4): while
   each segment improves on the best valid LL so far, training goes on; otherwise it starts
   again from the best checkpoint at a third of the learning rate (a new stage folder), until
   the time is spent or the rate is a 30th of where it began. Where a whole segment no longer
   fits, a shorter one with one checkpoint spends what is left.
4. Transposed, with the time left: the same from the same start at the chosen rate, with every
   song moved by up to 6 semitones each epoch (--transpose 6: every key), then, for the last
   third of the time, fine-tuning in the songs' own keys from the best transposed checkpoint
   at a ninth of the rate. Augmentation helps a data set that overfits (JSB) and costs one
   that doesn't; valid decides, since every checkpoint of 3 and 4 competes on it.
5. The checkpoint with the best valid LL is evaluated on test (rnn_rbm_evaluate.py), with
   time kept back for it: the latest valid evaluation's time, scaled to test, doubled. An
   RNN-RBM's test AIS gets at most a quarter of the budget: where the recipe's settings
   (20 chains x 500 temperatures) would take more, judged from the first valid evaluation, it
   runs with fewer temperatures, then fewer chains, down to the settings that choose on valid
   (10 x 200); the recipe prints them and records them in recipe.json.

A DBN (rnn-dbn) takes steps 1-4 of the RNN-RBM with the same cell in OUT/rbm, with 60% of the
budget; then stacks the DBN on the RNN-RBM chosen (weight_initializations.py --stack: each layer
above starts as the transpose of the one below, so the DBN's lower bound starts at the RNN-RBM's
LL) and trains every layer from there at a ninth of the RNN-RBM's rate, as in step 3. The
stacked start and each DBN checkpoint compete on valid's bound.

With --optimizer hf (rnn-nade, rnn) training is Hessian-free (HF.py: one update per epoch) instead
of Adam. HF has no learning rate: step 2 trains one run, and a stage of step 3 or 4 starts from
the best checkpoint with HF's damping afresh (the rate the record shows is not used).

--minutes is the wall-clock budget of all five. Every step is one of this project's commands,
printed before it runs, so each can be rerun by hand; OUT/recipe.json records the choices and
every valid figure. The last line is rnn_rbm_evaluate.py's:
`<dataset> test: LL/frame -X.XXX ± s.e. nats  ACC YY.YY%`.
"""
import argparse
import json
import logging
import math
import os
import re
import shlex
import subprocess
import sys
import time

import pandas as pd

import checkpoints
import cli
import config
import datasets
import evaluation

log = logging.getLogger(__name__)

# What each model's recipe fixes. Everything else is config.py's paper preset.
RECIPES = {
    "rnn-rbm": dict(pretrain=["--pretrain-epochs", "100"], lrs=(3e-4, 1e-3),       # AIS: as few chains as will do
                    select=evaluation.Settings(chains=10, betas=200), final=evaluation.Settings(chains=20)),
    "rnn-nade": dict(pretrain=["--pretrain-epochs", "0"], lrs=(3e-3, 1e-2),
                     select=evaluation.Settings(chains=10), final=evaluation.Settings()),
    "rnn": dict(pretrain=["--pretrain-epochs", "0"], lrs=(3e-3, 1e-2),
                select=evaluation.Settings(chains=10), final=evaluation.Settings()),
}
RECIPES["rtrbm"] = RECIPES["rnn-rbm"]       # an RBM at every frame too: CD pretraining, AIS
RECIPES["rnn-dbn"] = RECIPES["rnn-rbm"]     # AIS for the bound; its training starts from the RNN-RBM's recipe
RBM_SHARE = 0.6            # of a DBN's budget, for the RNN-RBM's recipe that it is stacked on
AIS_MODELS = ("rnn-rbm", "rtrbm", "rnn-dbn")   # no exact likelihood: valid and test by AIS (a DBN's lower bound)
TRAIN = ["--optimizer", "adam", "--batch-songs", "8"]   # every model: Adam over 8 lanes of songs
PRETRAIN_SHARE = 0.1       # of the budget, at most, for pretraining
SEGMENT_SHARE = 1 / 12     # of the budget, about, per segment of training
CHECKS_PER_SEGMENT = 4     # checkpoints per segment, each evaluated on valid
CHECK_COST = 2.0           # training between two checkpoints: at least this many times an evaluation's time
TRANSPOSE = 6              # the transposed route moves songs by up to 6 semitones either way: every key
TUNE_SHARE = 1 / 3         # of the transposed route's time, for fine-tuning in the songs' own keys
LR_DROP, LR_FLOOR = 3.0, 30.0
SELECT_FRAMES = 5000       # valid frames that choose between RBM checkpoints (AIS is slow); exact models use all
EXACT_LL_CHAINS = 20       # an exact model's LL costs about what drawing this many samples per frame for ACC does
RESERVE_MARGIN = 2.0       # the test evaluation's time, over what the last valid one predicts: in the 12-minute table,
                           # Nottingham's RNN-RBM test AIS took 12 minutes where at most 6.5 had been kept back
TEST_SHARE = 0.25          # of the budget, at most, for an RNN-RBM's test AIS (its settings shrink to fit)


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("dataset", help="a benchmark .pickle in the 2012 paper's layout")
    parser.add_argument("--model", default="rnn-rbm", choices=config.MODELS, help="(default: %(default)s)")
    parser.add_argument("--cell", default="rnn", choices=("rnn", "lstm", "gru"), help="(default: %(default)s)")
    parser.add_argument("--optimizer", default="adam", choices=("adam", "hf"),
                        help="training's optimizer: Adam over 8 lanes, or Hessian-free (default: %(default)s)")
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
        config.preset("paper", model=args.model, cell=args.cell, optimizer=args.optimizer)    # refuses hf for CD models
        self.train_options = TRAIN if args.optimizer == "adam" else ["--optimizer", "hf"]
        self.lrs = self.recipe["lrs"] if args.optimizer == "adam" else self.recipe["lrs"][:1]
        hf = "_hf" if args.optimizer == "hf" else ""
        self.out = args.out or os.path.join("runs", f"{evaluation.dataset_name(args.dataset)}_{args.model}_{args.cell}{hf}"
                                            .replace(" ", "_"))
        self.record = {"dataset": args.dataset, "model": args.model, "cell": args.cell, "optimizer": args.optimizer,
                       "minutes": args.minutes,
                       "seed": args.seed, "valid": [], "commands": []}
        self.eval_seconds = None       # of one valid evaluation
        data = datasets.load_pickle_dataset(args.dataset)
        frames = {split: [len(song) for song in data[split] if len(song)] for split in ("valid", "test")}
        self.valid_frames, self.test_frames = sum(frames["valid"]), sum(frames["test"])
        self.select, self.final = self.recipe["select"], self.recipe["final"]
        if args.model in AIS_MODELS:      # AIS on the first songs of valid, up to SELECT_FRAMES frames
            songs = max(1, next((i for i in range(len(frames["valid"])) if sum(frames["valid"][:i + 1]) > SELECT_FRAMES),
                                len(frames["valid"])))
            self.select = self.select._replace(max_songs=songs)
            self.valid_frames = sum(frames["valid"][:songs])

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

    @staticmethod
    def epoch_paths(folder, epochs):
        return [os.path.join(folder, f"epoch_{epoch}.ckpt") for epoch in epochs]

    def select_on_valid(self, paths, lr, transpose):
        """The valid LL of each checkpoint of `paths`, evaluated here as `rnn_rbm_evaluate.py
        <checkpoint> --split valid` with the recipe's selection settings; returns [(LL, checkpoint)]."""
        found = []
        for checkpoint in paths:
            started = time.time()
            result = evaluation.evaluate_checkpoint(checkpoint, self.args.dataset, "valid", self.select)
            self.eval_seconds = time.time() - started
            self.record["valid"].append({"checkpoint": checkpoint, "lr": lr, "transpose": transpose,
                                         "ll": float(result.ll),
                                         "acc": float(result.acc)})
            found.append((float(result.ll), checkpoint))
            print(f"valid LL/frame {result.ll:.3f} ACC {100 * result.acc:.2f}%: {checkpoint}"
                  f"{'' if lr is None else f' (lr {lr:g})'}; "
                  f"{self.left() / 60:.1f} min left", file=sys.stderr, flush=True)
        self.save_record()
        return found

    def cost(self, settings):
        """An evaluation's work per frame, in units its time is proportional to: for AIS, the Gibbs
        steps of a frame (the base's chains of k_generate steps, then chains x betas); for an exact
        model, its LL and then the chains that sample ACC."""
        if self.args.model in AIS_MODELS:
            return settings.base_chains * config.preset("paper").k_generate + settings.chains * settings.betas
        return settings.chains + EXACT_LL_CHAINS

    def test_seconds(self, settings):
        """The test evaluation's time with `settings`: the last valid one's, scaled to test's frames
        and to the settings' cost, with a margin for a machine that gets busier, and 30 s to start
        the process."""
        return (RESERVE_MARGIN * self.eval_seconds * self.test_frames / self.valid_frames * self.cost(settings)
                / self.cost(self.select) + 30.0)

    def test_reserve(self):
        """Seconds kept back for the test evaluation."""
        return 0.0 if self.eval_seconds is None else self.test_seconds(self.final)

    def fit_test_settings(self):
        """An RNN-RBM's test AIS settings, once an evaluation has been timed: the recipe's where they
        fit in TEST_SHARE of the budget; else fewer betas, then fewer chains, down to the ones that
        select on valid (whose time the test then takes, fitting or not)."""
        if self.args.model not in AIS_MODELS:
            return
        share, full = TEST_SHARE * 60.0 * self.args.minutes, self.final
        if self.test_seconds(full) > share:
            per_step = (self.test_seconds(full) - 30.0) / self.cost(full)     # seconds per Gibbs step of a frame
            steps = (share - 30.0) / per_step - self.cost(full._replace(chains=0))   # chains x betas that fit
            chains = full.chains if steps >= full.chains * self.select.betas else self.select.chains
            self.final = full._replace(chains=chains, betas=max(self.select.betas, min(full.betas, int(steps / chains))))
            print(f"the test AIS at {full.chains} chains x {full.betas} temperatures would take about "
                  f"{self.test_seconds(full) / 60:.1f} of the {self.args.minutes:g} minutes; it runs at "
                  f"{self.final.chains} x {self.final.betas} (about {self.test_seconds(self.final) / 60:.1f} min)",
                  file=sys.stderr, flush=True)
        self.record["test_settings"] = {"chains": self.final.chains, "betas": self.final.betas}

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

    def train(self, folder, epochs, save_every, init=None, lr=None, transpose=0, resume=False):
        """Train the run in `folder` up to `epochs`, saving every `save_every`; returns the epochs
        of the checkpoints this call wrote and the mean seconds per epoch."""
        first = (max(e for e, _ in checkpoints.epoch_checkpoints(folder)) + 1) if resume else 1
        options = ["--resume"] if resume else ["--init", init, "--lr", lr, "--transpose", transpose, *self.train_options]
        self.run("rnn_rbm_train.py", epochs, "--data", self.args.dataset, "--checkpoint-dir", folder, *options,
                 "--save-every", save_every, "--quiet")
        seconds = pd.read_csv(os.path.join(folder, "training_log.csv"))["seconds"]
        written = [e for e, _ in checkpoints.epoch_checkpoints(folder) if e >= first]
        return written, float(seconds.mean())

    def room(self, until=None):
        """Seconds of work that end before `until` (a time) and before the time kept back for test."""
        return min(self.deadline - self.test_reserve() - 15.0, until or math.inf) - time.time()

    def fits(self, seconds, until=None):
        return self.room(until) >= seconds

    def plan(self, per_epoch):
        """Segments of training: four checkpoints each, with at least twice an evaluation's time of
        training between two (fewer epochs per checkpoint where a segment would pass its share)."""
        every = max(1, math.ceil(CHECK_COST * self.eval_seconds / per_epoch))
        cap = max(1, int(SEGMENT_SHARE * 60.0 * self.args.minutes / per_epoch))
        epochs = min(CHECKS_PER_SEGMENT * every, cap)
        self.save_every = max(1, epochs // CHECKS_PER_SEGMENT)
        self.epochs = max(self.save_every, epochs - epochs % self.save_every)
        self.per_epoch = per_epoch

    def segment(self, epochs=None, checks=None):
        """Seconds of a segment: a full one by default, or `epochs` with `checks` checkpoints."""
        epochs = self.epochs if epochs is None else epochs
        checks = self.epochs // self.save_every if checks is None else checks
        return (epochs * self.per_epoch + checks * self.eval_seconds) * 1.1 + 10.0

    def opening(self, folder, start, lr):
        """A new run in `folder` from `start` in the songs' own keys: one epoch, whose valid evaluation
        times an evaluation (and fits the test's settings) and whose time plans the segments, then
        the rest of a first segment; returns [(LL, checkpoint)]."""
        written, per_epoch = self.train(folder, 1, 1, start, lr)
        found = self.select_on_valid(self.epoch_paths(folder, written), lr, 0)
        self.fit_test_settings()
        self.plan(per_epoch)
        if self.epochs > 1:
            written, self.per_epoch = self.train(folder, self.epochs, self.save_every, resume=True)
            found += self.select_on_valid(self.epoch_paths(folder, written), lr, 0)
        return found

    def first_segment(self, name, start, lr, transpose=0):
        """A new run in OUT/name from `start`: one segment; returns (its best (LL, checkpoint), folder)."""
        folder = os.path.join(self.out, name)
        written, self.per_epoch = self.train(folder, self.epochs, self.save_every, start, lr, transpose)
        return max(self.select_on_valid(self.epoch_paths(folder, written), lr, transpose)), folder

    def next_segment(self, until=None):
        """(epochs, save_every) of the next segment: a full one where it fits before `until` and the
        time kept back for test; else the most epochs, with one checkpoint at the end, that fit;
        (0, 0) where not one epoch does."""
        if self.fits(self.segment(), until):
            return self.epochs, self.save_every
        room = self.room(until)
        epochs = max(0, int(room / self.per_epoch))
        while epochs and self.segment(epochs, 1) > room:
            epochs -= 1
        return epochs, epochs

    def descend(self, prefix, best, folder, lr, transpose, until=None):
        """Go on with the run in `folder` while each segment improves on the best valid LL so far;
        otherwise start a new stage (OUT/<prefix>stageN) from the best checkpoint at a third of
        the rate, until the time `until`, or the rate is a 30th of `lr`; the last segment is
        shorter where a full one would not fit. `best` is the (LL, checkpoint) of the run's first
        segment; returns the best of all of them."""
        stage, floor, done, improved = 0, lr / LR_FLOOR, self.epochs, True
        while True:
            epochs, save_every = self.next_segment(until)
            if not epochs:
                break
            if improved:
                done += epochs
                written, self.per_epoch = self.train(folder, done, save_every, resume=True)
            else:
                if lr / LR_DROP < floor:
                    break
                stage, lr, done = stage + 1, lr / LR_DROP, epochs
                folder = os.path.join(self.out, f"{prefix}stage{stage}")
                written, self.per_epoch = self.train(folder, done, save_every, best[1], lr, transpose)
            found = max(self.select_on_valid(self.epoch_paths(folder, written), lr, transpose))
            improved, best = found[0] > best[0], max(best, found)
        return best

    def choose(self):
        """Steps 1-4: (the best valid LL, its checkpoint)."""
        init = self.pretrain()
        # 2. the learning rate: the same first segment from the same start at each rate
        first_lr = self.lrs[0]
        folder = os.path.join(self.out, f"lr{first_lr:g}")
        trials = [(max(self.opening(folder, init, first_lr)), folder, first_lr)]
        for lr in self.lrs[1:]:
            if not self.fits(self.segment()):
                break
            trials.append((*self.first_segment(f"lr{lr:g}", init, lr), lr))
        best, folder, lr = max(trials)
        self.record["lr"] = lr
        # 3. in the songs' own keys, with half of the time left at most; all of it where the other
        #    half could not hold the transposed route's first two segments
        half = (self.deadline - self.test_reserve() - time.time()) / 2
        untransposed = time.time() + half if half >= 2 * self.segment() else None
        best = self.descend("", best, folder, lr, 0, until=untransposed)
        # 4. transposed, then fine-tuned in the songs' own keys from the best transposed checkpoint
        if self.fits(2 * self.segment()):
            tuning = time.time() + (self.deadline - self.test_reserve() - time.time()) * (1 - TUNE_SHARE)
            moved, folder = self.first_segment(f"transposed{TRANSPOSE}", init, lr, TRANSPOSE)
            moved = self.descend(f"transposed{TRANSPOSE}_", moved, folder, lr, TRANSPOSE, until=tuning)
            best = max(best, moved)
            if self.fits(self.segment()):
                tuned, folder = self.first_segment("tuned", moved[1], lr / LR_DROP ** 2)
                best = max(best, self.descend("tuned_", tuned, folder, lr / LR_DROP ** 2, 0))
        return best

    def stacked(self):
        """A DBN's steps 1-4: the RNN-RBM's recipe with the same cell, in OUT/rbm with RBM_SHARE of
        the budget (its test left out); the DBN stacked on its choice (weight_initializations.py
        --stack), whose bound starts at that RNN-RBM's LL; then every layer's CD in segments from
        there at the rate that fine-tunes the RNN-RBM, each checkpoint and the stacked start
        competing on valid. Returns the best (bound, checkpoint)."""
        under = argparse.Namespace(**{**vars(self.args), "model": "rnn-rbm", "out": os.path.join(self.out, "rbm"),
                                      "minutes": RBM_SHARE * self.args.minutes})
        rbm = Recipe(under)
        rbm.save_record()
        chosen = rbm.choose()
        rbm.record.update(chosen=chosen[1], chosen_valid_ll=chosen[0])
        rbm.save_record()
        self.record["rbm"] = {"chosen": chosen[1], "chosen_valid_ll": chosen[0], "lr": rbm.record["lr"]}
        folder = os.path.join(self.out, "init")
        self.run("weight_initializations.py", "--stack", chosen[1], "--data", self.args.dataset, "--seed",
                 self.args.seed, "--checkpoint-dir", folder, "--quiet")
        start = os.path.join(folder, "initialized.ckpt")
        best = self.select_on_valid([start], None, 0)[0]
        lr = rbm.record["lr"] / LR_DROP ** 2
        folder = os.path.join(self.out, "dbn")
        return self.descend("dbn_", max([best, *self.opening(folder, start, lr)]), folder, lr, 0)

    def main(self):
        if os.path.exists(os.path.join(self.out, "recipe.json")):
            raise ValueError(f"{self.out}/ holds a run already; remove it or give another --out")
        self.save_record()
        best = self.stacked() if self.args.model == "rnn-dbn" else self.choose()
        # 5. test, once
        self.record.update(chosen=best[1], chosen_valid_ll=best[0])
        final = ["--chains", self.final.chains] + (["--betas", self.final.betas] if self.args.model in AIS_MODELS else [])
        last = self.run("rnn_rbm_evaluate.py", best[1], "--dataset", self.args.dataset, "--split", "test", *final,
                        "--quiet").strip().splitlines()[-1]
        self.record.update(test_ll=float(re.search(r"LL/frame (\S+)", last).group(1)), test_line=last,
                           minutes_used=round((time.time() - self.start) / 60, 2))
        self.save_record()
        print(f"chose {best[1]} (valid LL/frame {best[0]:.3f}) after {self.record['minutes_used']} min; "
              f"record in {self.out}/recipe.json", file=sys.stderr)
        print(last)
        return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    if not args.verbose:     # one line per valid checkpoint is enough
        logging.getLogger(evaluation.__name__).setLevel(logging.WARNING)
    if not args.minutes > 0:
        raise ValueError("--minutes must be a positive number of minutes")
    if not datasets.is_pickle_dataset(args.dataset):
        raise ValueError(f"{args.dataset} is not a benchmark .pickle; pass one in the 2012 paper's layout")
    return Recipe(args).main()


if __name__ == "__main__":
    sys.exit(cli.run(main))
