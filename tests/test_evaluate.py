"""AIS against exact log Z, and the benchmark evaluation end to end on a tiny dataset."""
import itertools
import os
import pickle

import numpy as np
import pytest
from tf1 import tf

import midi_manipulation
import checkpoints
import config
import RBM
import evaluation
import rnn_rbm_evaluate
import rnn_rbm_generate
import rnn_rbm_train
import weight_initializations
from conftest import SHARED


def every_state(W, bv, bh):
    """(states, -F(states)): every visible state of an RBM and its unnormalised log-probability."""
    states = np.array(list(itertools.product([0, 1], repeat=len(bv))), np.float64)
    return states, states @ bv + np.logaddexp(0, states @ W + bh).sum(1)


def exact_log_z(W, bv, bh):
    """log Z of an RBM by enumerating every visible state, hidden units summed out."""
    neg_free = every_state(W, bv, bh)[1]
    top = neg_free.max()
    return top + np.log(np.exp(neg_free - top).sum())


def block_rbm(weight, visible_bias, hidden_biases):
    """An 8-key RBM whose two hidden units each switch on four keys (the low four, the high four):
    modes at silence and at each block, as sharp as `weight` makes them. (W, bv [1, 8], bh [1, 2])."""
    W = np.zeros((8, 2), np.float32)
    W[:4, 0], W[4:, 1] = weight, weight
    return W, np.full((1, 8), visible_bias, np.float32), np.array([hidden_biases], np.float32)


def small_rbms(rows=4, n_visible=10, n_hidden=16):
    """(W, bv, bh, v): the RBMs of `rows` rows sharing W, and one visible state per row."""
    rng = np.random.default_rng(0)
    W = rng.normal(0, 0.6, (n_visible, n_hidden)).astype(np.float32)
    bv = rng.normal(-1, 1, (rows, n_visible)).astype(np.float32)
    bh = rng.normal(0, 1, (rows, n_hidden)).astype(np.float32)
    return W, bv, bh, (rng.random((rows, n_visible)) < 0.3).astype(np.float32)


def anneal(W, bv, bh, n_betas, chains, seed, v=None):
    """AIS, and RAISE for frames `v` when given, from the AIS base of rnn_rbm_evaluate (marginals
    of 10 Gibbs chains of 25 steps from silence), run in a fresh graph: (Ais, (log_p, se) or ())."""
    with tf.Graph().as_default():
        seed = tf.constant([seed, 0], tf.int64)
        base = RBM.marginal_base(RBM.gibbs_marginals(np.zeros_like(bv), W, bv, bh, 25, 10, seed))
        betas, chain_seed = RBM.ais_betas(n_betas), RBM.offset_seed(seed, 51)
        ais = RBM.ais_log_z(W, bv, bh, base, betas, chains, chain_seed)
        raised = () if v is None else RBM.raise_log_p(v, W, bv, bh, base, betas, chains, chain_seed)
        with tf.Session() as sess:
            return sess.run((ais, raised))


def test_ais_matches_exact_log_z_of_small_rbms():
    W, bv, bh, _ = small_rbms()
    exact = np.array([exact_log_z(W.astype(np.float64), bv[r], bh[r]) for r in range(len(bv))])
    ais, _ = anneal(W, bv, bh, 1000, 200, 3)
    np.testing.assert_allclose(ais.log_z, exact, atol=0.02)
    assert np.all(ais.std_error < 0.02) and np.all(ais.std_error > 0)


def exact_log_p(v, W, bv, bh):
    return v @ bv + np.logaddexp(0, v @ W + bh).sum() - exact_log_z(W, bv, bh)


def test_raise_matches_exact_log_p_of_small_rbms():
    W, bv, bh, v = small_rbms()
    exact = [exact_log_p(v[r], W.astype(np.float64), bv[r], bh[r]) for r in range(len(bv))]
    _, (log_p, se) = anneal(W, bv, bh, 1000, 200, 3, v)
    np.testing.assert_allclose(log_p, exact, atol=0.02)
    assert np.all(se < 0.02) and np.all(se > 0)


def test_raise_and_ais_bracket_the_log_p_of_a_sharp_rbm():
    # sharp modes and 20 temperatures: far from converged, AIS misses mass (log-likelihood too
    # high) and RAISE errs low
    W, bv, bh = block_rbm(10.0, -5.0, [-20.0, -21.0])
    v = np.array([[1, 1, 1, 1, 0, 0, 0, 0]], np.float32)
    exact = exact_log_p(v[0], W.astype(np.float64), bv[0], bh[0])
    ais, (log_p, _) = anneal(W, bv, bh, 20, 100, 3, v)
    ais_log_p = exact + exact_log_z(W.astype(np.float64), bv[0], bh[0]) - ais.log_z[0]
    assert log_p[0] < exact - 1 and ais_log_p > exact + 0.3


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


def test_ais_temperatures_rise_from_0_to_1_dense_near_1():
    betas = RBM.ais_betas(1000)
    assert len(betas) == 1001 and betas[0] == 0 and betas[-1] == 1 and np.all(np.diff(betas) > 0)
    assert (betas >= 0.9).sum() > 600 and (betas < 0.5).sum() < 50
    assert len(RBM.ais_betas(3)) >= 3 and RBM.ais_betas(3)[-1] == 1


def test_ais_log_z_of_the_base_model_is_exact():
    # with W = 0 every temperature is the base model: every weight is 1 and the estimate is exact
    rng = np.random.default_rng(1)
    bv = rng.normal(0, 1, (2, 6)).astype(np.float32)
    bh = np.zeros((2, 3), np.float32)
    W = np.zeros((6, 3), np.float32)
    with tf.Graph().as_default():
        ais = RBM.ais_log_z(W, bv, bh, bv, np.linspace(0, 1, 11), 5, np.array([0, 0], np.int64))
        with tf.Session() as sess:
            log_z, se = sess.run([ais.log_z, ais.std_error])
    np.testing.assert_allclose(log_z, [exact_log_z(W, bv[r], bh[r]) for r in range(2)], rtol=1e-5)
    np.testing.assert_allclose(se, 0, atol=1e-6)


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
