"""The command lines: help text, positional forms, and options that steer generation."""
import argparse
import pickle
import re

import pytest

import benchmark
import fuzz_midi
import make_default_data
import music_stats
import plot_piano_roll
import reproduce
import rnn_rbm_evaluate
import rnn_rbm_generate
import rnn_rbm_train
import sharpen_checkpoint
import weight_initializations
from conftest import ROOT, run_cli, run_in, write_midi

SCRIPTS = [weight_initializations, rnn_rbm_train, rnn_rbm_generate, rnn_rbm_evaluate, make_default_data,
           plot_piano_roll, benchmark, fuzz_midi, sharpen_checkpoint, reproduce, music_stats]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.__name__)
def test_every_option_has_help(script, capsys):
    parser = script.build_parser()
    for action in parser._actions:
        assert action.help and action.help != argparse.SUPPRESS, f"{action.option_strings or action.dest} has no help"
    with pytest.raises(SystemExit) as exit_:
        script.main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "--quiet" in text and "--verbose" in text


def test_help_shows_the_original_positional_forms(capsys):
    for script, positional in [(rnn_rbm_train, "num_epochs"), (rnn_rbm_generate, "checkpoint")]:
        with pytest.raises(SystemExit):
            script.main(["--help"])
        usage = capsys.readouterr().out.split("\n\n")[0]
        assert f"[{positional}]" in usage or f" {positional}" in usage


def test_unknown_option_is_an_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        rnn_rbm_generate.main(["latest", "--num-song", "3"])   # no abbreviations either
    assert exit_.value.code == 2
    assert "unrecognized arguments: --num-song" in capsys.readouterr().err


def test_length_in_steps_or_bars():
    hp = rnn_rbm_generate.config.HParams()
    assert rnn_rbm_generate.parse_length("300", hp) == (300, None)
    assert rnn_rbm_generate.parse_length("16bars", hp) == (52, 256)     # 256 16ths need 52 rows of 5
    assert rnn_rbm_generate.parse_length("1bar", hp) == (4, 16)
    with pytest.raises(ValueError, match="--length"):
        rnn_rbm_generate.parse_length("ten", hp)


def help_options(script, capsys):
    with pytest.raises(SystemExit):
        script.main(["--help"])
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", capsys.readouterr().out))


@pytest.mark.parametrize("script, offered, not_offered", [
    (weight_initializations, ["--pretrain-epochs", "--n-hidden", "--lowest-note", "--articulation", "--optimizer",
                              "--batch-songs", "--rnn-pretrain-epochs", "--resume"], ["--epochs", "--k-train", "--k-generate"]),
    (rnn_rbm_train, ["--epochs", "--k-train", "--lr", "--batch-songs", "--transpose", "--save-every", "--resume"],
     ["--n-hidden", "--lowest-note", "--pretrain-epochs", "--pretrain-k", "--k-generate", "--bpm"]),
    (rnn_rbm_generate, ["--k-generate", "--bpm", "--velocity", "--tickscale", "--seed"],
     ["--lr", "--epochs", "--pretrain-k", "--k-train", "--n-hidden", "--pretrain-epochs"]),
], ids=lambda v: getattr(v, "__name__", ""))
def test_each_script_offers_the_options_it_uses(script, offered, not_offered, capsys):
    options = help_options(script, capsys)
    assert set(offered) <= options, set(offered) - options
    assert not set(not_offered) & options, set(not_offered) & options


def test_bad_values_get_one_line_and_exit_2(tiny_run, tmp_path, capsys):
    data, init = str(tiny_run / "songs"), str(tiny_run / "ckpt" / "initialized.ckpt")
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
            result = run_in(ROOT, *args)
            code, err = result.returncode, result.stderr
        else:
            code, err = run_cli(scripts[args[0]], args[1:], capsys)
        assert code == 2, (args, err)
        assert message in err and "Traceback" not in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err


def test_the_model_is_set_by_pretraining_only(tiny_run, capsys):
    # the layer sizes and the piano roll come from the checkpoint; training and generation do not offer them
    init = str(tiny_run / "ckpt" / "initialized.ckpt")
    for script, args in ((rnn_rbm_train, ["1", "--init", init]), (rnn_rbm_generate, [init])):
        code, err = run_cli(script, args + ["--n-hidden", "9"], capsys)
        assert code == 2 and "unrecognized arguments: --n-hidden 9" in err, err


def test_bad_command_lines_exit_2_with_one_line(tmp_path, capsys):
    missing = run_in(ROOT, "rnn_rbm_generate.py", str(tmp_path / "nope.ckpt"))
    assert missing.returncode == 2
    assert "nope.ckpt" in missing.stderr and "Traceback" not in missing.stderr
    code, err = run_cli(rnn_rbm_train, ["1", "--checkpoint-dir", str(tmp_path)], capsys)
    assert code == 2 and "weight_initializations.py" in err
    code, err = run_cli(rnn_rbm_train, ["1", "--n-hiden", "5"], capsys)
    assert code == 2 and "unrecognized arguments" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, err = run_cli(weight_initializations, ["--data", str(empty), "--checkpoint-dir", str(tmp_path)], capsys)
    assert code == 2 and "no .mid or .midi files" in err


def test_piano_rolls_side_by_side_share_one_picture(tmp_path, capsys):
    a, b = str(tmp_path / "a.mid"), str(tmp_path / "b.mid")
    write_midi(a, [(60 + i % 4, 240 * i, 240 * (i + 1)) for i in range(32)])
    write_midi(b, [(48 + i % 7, 120 * i, 120 * (i + 1)) for i in range(64)])
    import matplotlib.image
    one = matplotlib.image.imread(plot_piano_roll.main([a, "--out", str(tmp_path / "one.png"), "--bars", "4"]))
    both = matplotlib.image.imread(plot_piano_roll.main([a, b, "--titles", "RNN-RBM,RNN-NADE", "--bars", "4",
                                                         "--out", str(tmp_path / "both.png")]))
    assert both.shape[1] > 1.5 * one.shape[1]
    code, err = run_cli(plot_piano_roll, [a, b, "--titles", "just one"], capsys)
    assert code == 2 and "one per file" in err
