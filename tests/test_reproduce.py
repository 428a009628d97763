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
