"""benchmark.py runs every part whose data is here, and every line it prints is plain JSON."""
import json
import os
import sys

import pytest

import benchmark
from conftest import SHARED, write_midi


def test_quick_benchmark_prints_one_json_object_per_line(tmp_path, capsys):
    songs = tmp_path / "songs"
    songs.mkdir()
    write_midi(str(songs / "a.mid"), [(60 + (i % 5), 120 * i, 120 * (i + 1)) for i in range(96)])
    write_midi(str(songs / "b.mid"), [(55 + (i % 3) * 4, 240 * i, 240 * (i + 1)) for i in range(40)])
    for name, step in (("c", 1), ("d", 2)):         # music_stats.py needs four real songs
        write_midi(str(songs / f"{name}.mid"), [(60 + (i * step) % 7, 240 * i, 240 * (i + 1)) for i in range(64)])
    parts = ["train", "random", "generate", "stats"]
    benchmarks = os.path.join(SHARED, "data", "benchmarks")
    if os.path.exists(os.path.join(benchmarks, "Nottingham.pickle")) or os.path.exists(os.path.join(benchmarks, "JSB Chorales.pickle")):
        parts.append("paper")
    capsys.readouterr()
    assert benchmark.main(["--quick", "--only", ",".join(parts), "--data", str(songs), "--batch-songs", "2", "--cells", "rnn,gru"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["part"] for r in records} == set(parts)
    stats = [r for r in records if r["part"] == "stats"]
    assert len(stats) == 1 and stats[0]["songs"] == 2 and stats[0]["seconds"] > 0
    assert [(r["cell"], r["batch_songs"]) for r in records if r["part"] == "train"] == [
        (cell, lanes) for cell in ("rnn", "gru") for lanes in (2,)]
    if "paper" in parts:
        paper = [r for r in records if r["part"] == "paper"]
        assert len(paper) == 2 + os.path.exists(os.path.join(benchmarks, "JSB Chorales.pickle"))
        done = [r for r in paper if "skipped" not in r]
        for record in done:
            assert record["dataset"] in ("Nottingham train", "JSB Chorales test")
        ais = [r for r in done if r.get("evaluation") == "AIS"]
        if os.path.exists(os.path.join(benchmarks, "JSB Chorales.pickle")):
            assert len(ais) == 1 and isinstance(ais[0]["acc"], float) and isinstance(ais[0]["ll_per_frame"], float)


def test_quick_models_part_times_each_model_and_cell_at_each_preset(tmp_path, capsys):
    songs = tmp_path / "songs"
    songs.mkdir()
    write_midi(str(songs / "a.mid"), [(60 + (i % 5), 120 * i, 120 * (i + 1)) for i in range(96)])
    capsys.readouterr()
    assert benchmark.main(["--quick", "--only", "models", "--data", str(songs), "--models", "rnn-nade,rnn",
                           "--cells", "rnn"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    timed = [r for r in records if "skipped" not in r]
    presets = ["original"] + (["paper"] if os.path.exists(os.path.join(SHARED, "data", "benchmarks", "JSB Chorales.pickle")) else [])
    assert [(r["preset"], r["model"]) for r in timed] == [(p, m) for p in presets for m in ("rnn-nade", "rnn")]
    for record in timed:
        assert record["rows_per_s"] > 0 and record["generate_steps_per_s"] > 0
        assert record["epoch_time_vs_rnn_cell"] == 1.0 and record["epoch_time_vs_rnn_rbm"] is None


def test_models_part_times_cells_and_a_baseline_side_by_side(tmp_path, capsys):
    songs = tmp_path / "songs"
    songs.mkdir()
    write_midi(str(songs / "a.mid"), [(60 + (i % 5), 120 * i, 120 * (i + 1)) for i in range(96)])
    capsys.readouterr()
    baseline = os.path.join(os.path.dirname(benchmark.__file__), "rnn_rbm.py")      # this code against itself
    assert benchmark.main(["--quick", "--only", "models", "--data", str(songs), "--models", "rnn",
                           "--cells", "rnn,lstm", "--baseline", baseline]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    timed = [r for r in records if "skipped" not in r and r["preset"] == "original"]
    assert [r["cell"] for r in timed] == ["rnn", "lstm"]
    for record in timed:
        assert record["baseline_seconds_per_epoch"] > 0 and record["faster_than_baseline"] > 0
    assert timed[0]["epoch_time_vs_rnn_cell"] == timed[0]["baseline_epoch_time_vs_rnn_cell"] == 1.0
    assert timed[1]["epoch_time_vs_rnn_cell"] > 0 and timed[1]["baseline_epoch_time_vs_rnn_cell"] > 0


def test_a_baseline_brings_the_modules_beside_it_that_differ_and_leaves_this_processs_own(tmp_path):
    import NADE
    (tmp_path / "rnn_rbm.py").write_text("import NADE\nimport config\nMARK = NADE.MARK\nCONFIG = config\n")
    (tmp_path / "NADE.py").write_text("MARK = 'the baseline NADE'\n")
    (tmp_path / "config.py").write_bytes(open(os.path.join(os.path.dirname(benchmark.__file__), "config.py"), "rb").read())
    baseline = benchmark.load_module(str(tmp_path / "rnn_rbm.py"), "baseline_under_test")
    assert baseline.MARK == "the baseline NADE"
    assert baseline.CONFIG is sys.modules["config"]        # the same file as this project's: this process's module
    assert sys.modules["NADE"] is NADE and hasattr(NADE, "logits")


def test_quick_quickstart_part_times_sampling_the_two_commands_and_training_memory(tmp_path, capsys):
    songs = tmp_path / "songs"
    songs.mkdir()
    write_midi(str(songs / "a.mid"), [(60 + (i % 5), 120 * i, 120 * (i + 1)) for i in range(96)])
    capsys.readouterr()
    assert benchmark.main(["--quick", "--only", "quickstart", "--data", str(songs)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["what"] for r in records] == ["sampling", "sampling", "whole process", "whole process", "training memory"]
    assert [r["vs_rnn_rbm"] for r in records[:2]][1] == 1.0 and records[3]["vs_pretrained_ckpt"] == 1.0
    assert records[2]["command"].startswith("python rnn_rbm_generate.py " + benchmark.QUICK_START)
    assert all(r["seconds"] > 0 for r in records[:4]) and records[4]["peak_rss_mb_of_training"] > 0


def test_quick_hf_part_reports_seconds_per_update_and_per_epoch_of_gradient_work(capsys):
    capsys.readouterr()
    assert benchmark.main(["--quick", "--only", "hf"]) == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    if not os.path.exists(os.path.join(SHARED, "data", "benchmarks", "JSB Chorales.pickle")):
        assert "skipped" in record
        return
    assert record["seconds_per_hf_update"] > 0 and record["gradient_work_epochs"] >= 1
    assert record["seconds_per_epoch_of_gradient_work"] * record["gradient_work_epochs"] == \
        pytest.approx(record["seconds_per_hf_update"], rel=0.05, abs=0.02)   # each figure is rounded
