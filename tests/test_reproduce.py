"""reproduce.py: the whole recipe on a tiny data set in the paper's layout, test read once at the end."""
import json
import os
import re

import pytest

import reproduce
from test_evaluation import tiny_dataset


def test_a_tiny_recipe_runs_end_to_end_and_chooses_on_valid(tmp_path, capsys):
    path, out = str(tmp_path / "Tiny.pickle"), str(tmp_path / "run")
    tiny_dataset(path)
    assert reproduce.main([path, "--model", "rnn", "--cell", "gru", "--minutes", "0.3", "--out", out]) == 0
    captured = capsys.readouterr()
    assert re.fullmatch(r"Tiny test: LL/frame -\d+\.\d{3} ± 0\.000 nats  ACC \d+\.\d\d%", captured.out.strip().splitlines()[-1])
    record = json.load(open(os.path.join(out, "recipe.json")))
    assert record["valid"] and record["chosen"] in [v["checkpoint"] for v in record["valid"]]
    assert record["chosen_valid_ll"] == max(v["ll"] for v in record["valid"])
    assert [c.split()[1] for c in record["commands"]][-1] == "rnn_rbm_evaluate.py"
    assert sum("--split test" in c for c in record["commands"]) == 1          # test is read once, at the end
    assert "$ python weight_initializations.py" in captured.err                 # every step is printed

    with pytest.raises(ValueError, match="holds a run already"):
        reproduce.main([path, "--model", "rnn", "--minutes", "0.3", "--out", out])


class FakeWorld:
    """Training and valid evaluation by rules, against a clock that training and evaluation move,
    for the recipe's control flow. A run in the songs' own keys from the start peaks at -5.6 and
    then overfits; a transposed run looks worse on valid (-6.0), but fine-tuning in the songs' own
    keys from it reaches -5.45, as the RNN-NADE on JSB does."""
    def __init__(self, monkeypatch, tuned=-5.45):
        self.now, self.calls, self.ll, self.cap, self.moved = 0.0, [], {}, {}, set()
        monkeypatch.setattr(reproduce.time, "time", lambda: self.now)
        monkeypatch.setattr(reproduce.Recipe, "pretrain", lambda recipe: "init.ckpt")
        monkeypatch.setattr(reproduce.Recipe, "train", lambda recipe, *a, **k: self.train(recipe, *a, **k))
        monkeypatch.setattr(reproduce.evaluation, "evaluate_checkpoint", self.evaluate)
        monkeypatch.setattr(reproduce.Recipe, "run", lambda recipe, *a: self.run(recipe, *a))
        self.runs, self.tuned, self.dbn_gain = {}, tuned, 0.0

    def train(self, recipe, folder, epochs, save_every, init=None, lr=None, transpose=0, resume=False):
        if not resume:
            self.calls.append(dict(folder=os.path.basename(folder), init=init, lr=lr, transpose=transpose))
            self.runs[folder] = dict(init=init, transpose=transpose, done=0)
        run = self.runs[folder]
        start = self.ll.get(run["init"], -8.0)
        cap = (-6.0 if run["transpose"] else self.tuned if run["init"] in self.moved
               else self.cap.get(run["init"], -5.6))       # a stage keeps the ceiling of its start
        written = [e for e in range(run["done"] + 1, epochs + 1) if e % save_every == 0]
        for e in written:
            path = os.path.join(folder, f"epoch_{e}.ckpt")
            self.ll[path], self.cap[path] = min(cap, start + 0.3 * e) - 0.02 * e, cap
            if run["transpose"]:
                self.moved.add(path)
        self.now += epochs - run["done"] + 5.0      # a second per epoch, and the start of a process
        run["done"] = epochs
        return written, 1.0

    def evaluate(self, path, dataset, split, settings):
        self.now += 2.0
        return reproduce.evaluation.Result(ll=self.ll[path], ll_se=0.0, ll_frame_se=0.0, acc=0.5, acc_se=0.0,
                                           acc_pooled=0.5, frames=10, raise_ll=None, raise_se=None, acc_repeat=0.4,
                                           acc_variants=None, exact=True)

    def run(self, recipe, script, *options):
        recipe.record["commands"].append(" ".join(["python", script, *map(str, options)]))
        if "--stack" in options:          # a DBN stacked on an RNN-RBM starts at its LL; training lifts it by dbn_gain
            source = options[options.index("--stack") + 1]
            stacked = os.path.join(options[options.index("--checkpoint-dir") + 1], "initialized.ckpt")
            self.ll[stacked], self.cap[stacked] = self.ll[source], self.ll[source] + self.dbn_gain
            self.now += 5.0
            return ""
        self.test_started = self.now
        self.now += 5.0
        return f"Tiny test: LL/frame {self.ll[options[0]]:.3f} ± 0.000 nats  ACC 50.00%\n"


def test_the_recipe_tries_transposition_then_fine_tuning_and_valid_chooses(tmp_path, monkeypatch, capsys):
    path, out = str(tmp_path / "Tiny.pickle"), str(tmp_path / "run")
    tiny_dataset(path)
    world = FakeWorld(monkeypatch)
    assert reproduce.main([path, "--model", "rnn-nade", "--minutes", "10", "--out", out]) == 0
    record = json.load(open(os.path.join(out, "recipe.json")))
    assert world.now <= 600.0 and record["minutes_used"] <= 10
    lr = record["lr"]
    moved = [c for c in world.calls if c["transpose"]]
    assert moved[0] == dict(folder="transposed6", init="init.ckpt", lr=lr, transpose=6)
    best_moved = max((ll, p) for p, ll in world.ll.items() if p in world.moved)[1]
    tuned = next(c for c in world.calls if c["folder"] == "tuned")
    assert tuned["init"] == best_moved and tuned["transpose"] == 0 and tuned["lr"] == pytest.approx(lr / 9)
    assert record["chosen_valid_ll"] == max(world.ll.values()) and "/tuned" in record["chosen"]
    assert record["chosen_valid_ll"] == pytest.approx(-5.45 - 0.02 * int(record["chosen"].split("_")[-1][:-5]))
    assert {v["transpose"] for v in record["valid"]} == {0, 6}


def test_the_recipe_keeps_the_songs_keys_where_valid_says_so(tmp_path, monkeypatch):
    path, out = str(tmp_path / "Tiny.pickle"), str(tmp_path / "run")
    tiny_dataset(path)
    world = FakeWorld(monkeypatch, tuned=-5.7)     # fine-tuning from a transposed run is worse here
    assert reproduce.main([path, "--model", "rnn-nade", "--minutes", "10", "--out", out]) == 0
    record = json.load(open(os.path.join(out, "recipe.json")))
    assert record["chosen_valid_ll"] == max(world.ll.values()) == pytest.approx(-5.68)
    assert "/transposed" not in record["chosen"] and "/tuned" not in record["chosen"]
    assert any(c["folder"] == "tuned" for c in world.calls)


def test_the_recipe_spends_what_is_left_after_choosing_the_rate(tmp_path, monkeypatch):
    """A short budget on a large data set: after the two rates' segments, less is left than the
    transposed route needs and less than a whole segment. Training in the songs' own keys takes
    all of it, the last segment shortened, instead of stopping with most of it unspent."""
    path, out = str(tmp_path / "Tiny.pickle"), str(tmp_path / "run")
    tiny_dataset(path)
    world = FakeWorld(monkeypatch)
    monkeypatch.setattr(reproduce.Recipe, "test_reserve", lambda recipe: 30.0)
    assert reproduce.main([path, "--model", "rnn-nade", "--minutes", "2.5", "--out", out]) == 0
    record = json.load(open(os.path.join(out, "recipe.json")))
    assert not any(c["transpose"] for c in world.calls)                  # no time for the transposed route
    assert 150.0 - 30.0 - 15.0 - world.test_started < 15.0      # unspent: less than an epoch, a check and a start


@pytest.mark.parametrize("minutes, expected", [(300, (20, 500)), (45, None), (12, (10, 200))])
def test_an_rbm_test_ais_takes_at_most_its_share_of_the_budget(tmp_path, minutes, expected):
    """With Nottingham's sizes and a valid AIS timed as on this machine (5,000 frames in 22.6 s at
    10 x 200): a long budget keeps the recipe's 20 x 500, a short one drops to the selection's
    10 x 200, and one between gets the most temperatures whose time fits in TEST_SHARE."""
    path = str(tmp_path / "Tiny.pickle")
    tiny_dataset(path)
    recipe = reproduce.Recipe(reproduce.build_parser().parse_args(
        [path, "--model", "rnn-rbm", "--minutes", str(minutes), "--out", str(tmp_path / "run")]))
    recipe.valid_frames, recipe.test_frames, recipe.eval_seconds = 4998, 44463, 22.6
    full = recipe.final
    recipe.fit_test_settings()
    settings = (recipe.final.chains, recipe.final.betas)
    assert recipe.record["test_settings"] == dict(zip(("chains", "betas"), settings))
    share = reproduce.TEST_SHARE * 60 * minutes
    if expected:
        assert settings == expected
    else:
        assert (10, 200) < settings < (full.chains, full.betas)
        assert share - 60 < recipe.test_reserve() <= share               # the most that fits, to a few betas
        assert recipe.test_seconds(recipe.final._replace(betas=recipe.final.betas + 5)) > share


def test_a_tiny_hf_recipe_trains_with_hf_and_refuses_a_cd_model(tmp_path, capsys):
    path, out = str(tmp_path / "Tiny.pickle"), str(tmp_path / "run")
    tiny_dataset(path)
    assert reproduce.main([path, "--model", "rnn-nade", "--optimizer", "hf", "--minutes", "0.4", "--out", out]) == 0
    record = json.load(open(os.path.join(out, "recipe.json")))
    trained = [c for c in record["commands"] if "rnn_rbm_train.py" in c and "--resume" not in c]
    assert trained and all("--optimizer hf" in c for c in trained)
    assert record["optimizer"] == "hf" and record["chosen"] in [v["checkpoint"] for v in record["valid"]]
    with pytest.raises(ValueError, match="no objective to take a second derivative of"):
        reproduce.main([path, "--model", "rnn-dbn", "--optimizer", "hf", "--out", str(tmp_path / "dbn")])


@pytest.mark.parametrize("gain", [0.0, 0.3])
def test_a_dbn_recipe_stacks_on_the_rnn_rbm_that_valid_chose_and_keeps_the_start_unless_training_beats_it(
        tmp_path, monkeypatch, gain):
    path, out = str(tmp_path / "Tiny.pickle"), str(tmp_path / "run")
    tiny_dataset(path)
    world = FakeWorld(monkeypatch)
    world.dbn_gain = gain
    assert reproduce.main([path, "--model", "rnn-dbn", "--cell", "lstm", "--minutes", "20", "--out", out]) == 0
    record = json.load(open(os.path.join(out, "recipe.json")))
    under = json.load(open(os.path.join(out, "rbm", "recipe.json")))
    assert under["model"] == "rnn-rbm" and under["cell"] == "lstm" and under["minutes"] == 0.6 * 20
    best_rbm = max((v["ll"], v["checkpoint"]) for v in under["valid"])
    assert record["rbm"]["chosen"] == best_rbm[1] == under["chosen"]
    stack = next(c for c in record["commands"] if "--stack" in c)
    assert f"--stack {best_rbm[1]}" in stack
    start = os.path.join(out, "init", "initialized.ckpt")
    assert record["valid"][0]["checkpoint"] == start
    dbn = next(c for c in world.calls if c["folder"] == "dbn")
    assert dbn["init"] == start and dbn["lr"] == pytest.approx(under["lr"] / 9) and dbn["transpose"] == 0
    if gain:
        assert record["chosen"] != start and record["chosen_valid_ll"] > best_rbm[0]
    else:
        assert record["chosen"] == start and record["chosen_valid_ll"] == best_rbm[0]
    assert record["chosen_valid_ll"] == max(v["ll"] for v in record["valid"])
    assert world.now <= 20 * 60.0 and sum("--split test" in c for c in record["commands"]) == 1
