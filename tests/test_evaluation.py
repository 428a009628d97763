"""ACC and the benchmark evaluation (evaluation.py, rnn_rbm_evaluate.py), end to end on a tiny dataset."""
import os
import pickle

import numpy as np
import pytest

import checkpoints
import evaluation
import midi_manipulation
import rnn_rbm_evaluate
import rnn_rbm_generate
import rnn_rbm_train
import weight_initializations
from conftest import SHARED
from test_RBM import anneal, block_rbm, every_state

def bay_accuracy(prediction, frame):
    tp, fp, fn = (prediction * frame).sum(), (prediction * (1 - frame)).sum(), ((1 - prediction) * frame).sum()
    return tp / (tp + fp + fn) if tp + fp + fn else 1.0


def test_expected_accuracy_of_hand_made_predictions():
    frames = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], np.float32)
    samples = np.array([[[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 1, 1]],      # accuracies 1, 1/3, 0
                        [[0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]], np.float32)  # 1 (silent as silent), 0, 1
    log_w = np.log(np.array([[2, 1, 1], [1, 1, 2]], np.float64))
    mean, variance, tp, total = evaluation.expected_accuracy(samples, log_w, frames)
    np.testing.assert_allclose(mean, [(2 + 1 / 3) / 4, 3 / 4])
    np.testing.assert_allclose(tp, [(2 * 2 + 1) / 4, 0])
    np.testing.assert_allclose(total, [(2 * 2 + 3 + 4) / 4, 1 / 4])
    w = np.array([2, 1, 1]) / 4
    np.testing.assert_allclose(variance[0], (w ** 2 * (np.array([1, 1 / 3, 0]) - mean[0]) ** 2).sum())
    acc, se, pooled = evaluation.summarise_accuracy([(mean[:1], variance[:1], tp[:1], total[:1]),
                                                           (mean[1:], variance[1:], tp[1:], total[1:])])
    assert acc == pytest.approx(mean.mean()) and pooled == pytest.approx(tp.sum() / total.sum())
    assert se == pytest.approx(np.sqrt(variance.sum()) / 2)


def test_repeat_accuracy_of_hand_made_songs():
    a = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]], np.float32)
    b = np.array([[0, 0, 0, 0], [0, 0, 0, 1]], np.float32)
    # a: after silence 0; held 1; {0, 1} -> {0, 2}: TP 1, FP 1, FN 1, so 1/3; {0, 2} -> silence 0
    # b: silence after silence 1; {3} after silence 0
    assert evaluation.repeat_accuracy([a, b]) == pytest.approx((0 + 1 + 1 / 3 + 0 + 1 + 0) / 6)
    np.testing.assert_array_equal(evaluation.previous_frames([a, b]),
                                  np.vstack([np.zeros((1, 4)), a[:-1], np.zeros((1, 4)), b[:-1]]))


def test_ais_weighted_samples_give_the_exact_expected_accuracy():
    # three modes: silence, the low four keys, the high four keys
    W, bv, bh = block_rbm(6.0, -3.0, [-10.0, -11.0])
    frame = np.array([1, 1, 1, 0, 0, 0, 0, 0], np.float32)
    states, log_p = every_state(W.astype(np.float64), bv[0], bh[0])
    p = np.exp(log_p - log_p.max())
    p /= p.sum()
    exact = sum(q * bay_accuracy(s, frame) for q, s in zip(p, states))
    ais, _ = anneal(W, bv, bh, 1000, 2000, 5)
    mean, variance, _, _ = evaluation.expected_accuracy(ais.v, ais.log_w, frame[None])
    assert exact == pytest.approx(0.4068, abs=1e-4)
    assert mean[0] == pytest.approx(exact, abs=0.01)
    assert 0 < np.sqrt(variance[0]) < 0.01


def tiny_dataset(path):
    rng = np.random.default_rng(2)

    def song(length):
        start = rng.integers(60, 70)
        return [sorted({int(start + (t % 4) * 2), int(start + 7)}) for t in range(length)]
    data = {"train": [song(24), song(30)], "valid": [song(12)], "test": [song(10), song(15)]}
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=2)
    return data


def test_evaluate_end_to_end_on_a_tiny_dataset(tmp_path, capsys):
    data = tiny_dataset(tmp_path / "Tiny Set.pickle")
    path, ck = str(tmp_path / "Tiny Set.pickle"), str(tmp_path / "ck")
    common = ["--data", path, "--checkpoint-dir", ck, "--cache-dir", "", "--quiet"]
    weight_initializations.main(["--preset", "paper", "--n-hidden", "12", "--n-hidden-recurrent", "8",
                                 "--pretrain-epochs", "3", "--rnn-pretrain-epochs", "2",
                                 "--optimizer", "adam", "--lr", "0.01", *common])
    _, extra = checkpoints.load_hparams(os.path.join(ck, "initialized.ckpt"))
    assert 0 < extra["rnn_pretrain_nll"] < 88 * np.log(2)
    assert rnn_rbm_train.main(["2", "--k-train", "3", "--optimizer", "adam", "--lr", "0.01", "--save-every", "1", "--transpose", "3",
                               "--negative-swap", "0.2", *common]) == 0
    argv = ["--dataset", path, "--chains", "20", "--betas", "50", "--base-chains", "3", "--batch-frames", "7", "--quiet"]
    assert rnn_rbm_evaluate.main([os.path.join(ck, "epoch_2.ckpt"), *argv, "--raise"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    name, rest = last.split(": ")
    assert name == "Tiny Set test"
    ll, se, acc = float(rest.split()[1]), float(rest.split()[3]), float(rest.split()[-1].rstrip("%"))
    assert -88 * np.log(2) < ll < 0 and 0 <= se < 0.5 and 0 <= acc <= 100
    # generation takes the dataset too, as a primer; a paper-preset song is play bits only
    out = rnn_rbm_generate.main([os.path.join(ck, "epoch_2.ckpt"), "--out", str(tmp_path / "out"), "--length", "6",
                                 "--primer", path + ":test:1", "--keep-primer", "--num-songs", "1", "--quiet"])
    assert os.path.basename(out[0]) == "1_Tiny_Set.mid"
    roll = midi_manipulation.midi_to_piano_roll(out[0], 21, 108, articulation=False)
    assert roll.shape[0] == 15 + 6 and roll[:15].any()
    # a folder: every checkpoint is scored and the best is reported
    assert rnn_rbm_evaluate.main([ck, *argv, "--split", "valid"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("Tiny Set valid: LL/frame")
    # the baseline: one probability per key from the train split
    assert rnn_rbm_evaluate.main(["--baseline", "--dataset", path]) == 0
    frames = np.zeros((54, 88))
    for t, frame in enumerate(f for song in data["train"] for f in song):
        frames[t, [p - 21 for p in frame]] = 1
    p = (frames.sum(0) + 1) / (len(frames) + 2)
    test = np.zeros((25, 88))
    for t, frame in enumerate(f for song in data["test"] for f in song):
        test[t, [q - 21 for q in frame]] = 1
    want = (test @ np.log(p) + (1 - test) @ np.log1p(-p)).mean()
    out, err = capsys.readouterr()
    assert f"LL/frame {want:.3f} ± 0.000" in out
    # consecutive frames share one of their two keys (1/3), and a song's first frame follows silence (0)
    assert f"repeating the previous frame scores ACC {100 * 23 / 3 / 25:.2f}%" in err


def test_evaluate_refuses_models_that_are_not_per_frame(tmp_path):
    data_path = str(tmp_path / "t.pickle")
    tiny_dataset(data_path)
    # the shipped checkpoint is the 5-step, articulated model
    shipped = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "parameter_checkpoints", "pretrained.ckpt")
    with pytest.raises(ValueError, match="one-frame, play-only model"):
        rnn_rbm_evaluate.main([shipped, "--dataset", data_path, "--quiet"])


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED, "data", "benchmarks")),
                    reason="../shared/data/benchmarks is not here")
def test_baseline_on_the_real_benchmarks_matches_the_paper(capsys):
    for name, want in [("JSB Chorales", -11.06), ("Nottingham", -10.25)]:
        rnn_rbm_evaluate.main(["--baseline", "--dataset", os.path.join(SHARED, "data", "benchmarks", name + ".pickle"),
                               "--quiet"])
        ll = float(capsys.readouterr().out.split("LL/frame ")[1].split()[0])
        assert ll == pytest.approx(want, abs=0.006)


def test_acc_variants_of_hand_made_predictions():
    v = np.array([[1, 1, 0], [0, 0, 0]], np.float32)
    samples = np.array([[[1, 0, 0], [1, 1, 1]],          # frame 0: accuracies 1/2 and 2/3
                        [[0, 0, 0], [0, 0, 1]]], np.float32)  # frame 1 (silent): 1 and 0
    log_w = np.zeros((2, 2))
    expected = [evaluation.expected_accuracy(samples, log_w, v)]
    marginals = evaluation.weighted_marginals(samples, log_w)
    np.testing.assert_allclose(marginals, [[1, 0.5, 0.5], [0, 0, 0.5]])
    threshold = [evaluation.prediction_accuracy((marginals > 0.5).astype(np.float32), v)]   # [1,0,0] and silence
    grid = evaluation.accuracy_variants(expected, threshold, [v])
    assert grid["expected", "mean"] == pytest.approx((7 / 12 + 1 / 2) / 2)
    assert grid["expected", "pooled"] == pytest.approx(1.5 / 3.0)          # E[TP] 1.5 + 0, E[TP + FP + FN] 2.5 + 0.5
    assert grid["threshold", "mean"] == pytest.approx((1 / 2 + 1) / 2)
    assert grid["threshold", "pooled"] == pytest.approx(1 / 2)
    assert grid["repeat", "mean"] == 0 and grid["repeat", "pooled"] == 0    # silence, then the chord that stopped


def test_acc_variants_are_printed_above_the_last_line(capsys):
    path = os.path.join(SHARED, "data", "benchmarks", "JSB Chorales.pickle")
    if not os.path.exists(path):
        pytest.skip(f"{path} not found: the benchmark data live in ../shared/data/benchmarks")
    assert rnn_rbm_evaluate.main(["--baseline", "--dataset", path, "--acc-variants", "--quiet", "--chains", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("JSB Chorales test: LL/frame -11.061")
    rows = {line.split("  ")[1].strip(): line for line in lines[2:5]}
    assert set(rows) == set(evaluation.PREDICTIONS.values())
    assert rows["repeat the previous frame"].split()[-2:] == ["26.90%", "21.98%"]
