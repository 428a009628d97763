"""The command lines: help text, positional forms, and options that steer generation."""
import argparse
import re

import pytest

import benchmark
import fuzz_midi
import make_default_data
import plot_piano_roll
import rnn_rbm_evaluate
import rnn_rbm_generate
import rnn_rbm_train
import sharpen_checkpoint
import weight_initializations

SCRIPTS = [weight_initializations, rnn_rbm_train, rnn_rbm_generate, rnn_rbm_evaluate, make_default_data,
           plot_piano_roll, benchmark, fuzz_midi, sharpen_checkpoint]


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
