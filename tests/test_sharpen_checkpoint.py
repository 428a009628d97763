"""sharpen_checkpoint.py: a tiny_run model at inverse temperature alpha."""

import numpy as np
import pytest

import checkpoints
import config
import rnn_rbm
import rnn_rbm_generate
import sharpen_checkpoint
from conftest import weights
from tf1 import tf

def test_sharpen_scales_every_frame_energy_and_leaves_the_rnn(tiny_run, tmp_path):
    src = str(tiny_run / "ckpt" / "epoch_1.ckpt")
    out = sharpen_checkpoint.sharpen(src, str(tmp_path / "sharp.ckpt"), 1.5)
    p, q = weights(src), weights(out)
    assert sorted(p) == sorted(q) == sorted(["W", "bv", "bh", "Wuh", "Wuv", "Wvu", "Wuu", "bu", "u0"])
    for name in ["Wvu", "Wuu", "bu", "u0"]:
        np.testing.assert_array_equal(q[name], p[name])

    def energy(m, u_tm1, v, h):                     # the frame's RBM, as rnn_rbm.conditional_biases builds it
        bv_t, bh_t = m["bv"] + u_tm1 @ m["Wuv"], m["bh"] + u_tm1 @ m["Wuh"]
        return -(v @ bv_t) - (h @ bh_t) - v @ m["W"] @ h
    rng = np.random.default_rng(0)
    for _ in range(5):
        u_tm1 = rng.uniform(-1, 1, p["Wuv"].shape[0])
        v, h = rng.integers(0, 2, p["W"].shape[0]), rng.integers(0, 2, p["W"].shape[1])
        assert energy(q, u_tm1, v, h) == pytest.approx(1.5 * energy(p, u_tm1, v, h), rel=1e-5, abs=1e-6)
    assert checkpoints.load_hparams(out)[0] == checkpoints.load_hparams(src)[0]
    twice = sharpen_checkpoint.sharpen(out, str(tmp_path / "sharper.ckpt"), 1.2, k_generate=7, best_of=3)
    assert checkpoints.load_hparams(twice)[1]["alpha"] == 1.8                   # not 1.7999999999999998
    assert checkpoints.load_hparams(twice)[0] == checkpoints.load_hparams(src)[0].replace(k_generate=7, best_of=3)
    assert rnn_rbm_generate.main([twice, "--out", str(tmp_path / "songs"), "--num-songs", "1", "--length", "8",
                                  "--quiet"])


def test_sharpen_refuses_bad_alpha_and_overwriting(tiny_run, tmp_path):
    src = str(tiny_run / "ckpt" / "epoch_1.ckpt")
    with pytest.raises(ValueError, match="not a positive number"):
        sharpen_checkpoint.sharpen(src, str(tmp_path / "s.ckpt"), 0.0)
    with pytest.raises(ValueError, match="at least 1 Gibbs step"):
        sharpen_checkpoint.sharpen(src, str(tmp_path / "s.ckpt"), 1.2, k_generate=0)
    with pytest.raises(ValueError, match="at least 1 candidate"):
        sharpen_checkpoint.sharpen(src, str(tmp_path / "s.ckpt"), 1.2, best_of=0)
    with pytest.raises(ValueError, match="is the input checkpoint"):
        sharpen_checkpoint.sharpen(src, src, 1.2)
    with pytest.raises(ValueError, match="exists already"):
        sharpen_checkpoint.sharpen(src, str(tiny_run / "ckpt" / "initialized.ckpt"), 1.2)


def test_sharpen_puts_each_nade_conditional_at_inverse_temperature_alpha(tmp_path):
    """An RNN-NADE's unit logits b_t,i + V[:, i] . h_i are multiplied by alpha; h_i and the RNN are not touched."""
    hp = config.preset("original", model="rnn-nade", n_hidden=5, n_hidden_recurrent=4, init_std_rnn=0.5,
                       init_std_W=0.5, lowest_note=60, highest_note=67)
    src = str(tmp_path / "nade.ckpt")
    with tf.Graph().as_default():
        tf.set_random_seed(0)
        params = rnn_rbm.create_params(hp)
        saver = checkpoints.make_saver(params)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sess.run([params.bv.assign(tf.random.normal(params.bv.shape)), params.bh.assign(tf.random.normal(params.bh.shape))])
            checkpoints.save(sess, saver, src, hp)
    out = sharpen_checkpoint.sharpen(src, str(tmp_path / "sharp.ckpt"), 1.5)
    p, q = weights(src), weights(out)
    for name in ["W", "bh", "Wuh", "Wvu", "Wuu", "bu", "u0"]:
        np.testing.assert_array_equal(q[name], p[name])

    def unit_logits(m, u_tm1, v):                   # NADE.py's docstring, with rnn_rbm.conditional_biases' biases
        b, c = m["bv"] + u_tm1 @ m["Wuv"], m["bh"] + u_tm1 @ m["Wuh"]
        return np.array([b[i] + m["V"][:, i] @ (1 / (1 + np.exp(-(c + v[:i] @ m["W"][:i])))) for i in range(len(v))])
    rng = np.random.default_rng(0)
    for _ in range(5):
        u_tm1, v = rng.uniform(-1, 1, hp.n_hidden_recurrent), rng.integers(0, 2, hp.n_visible).astype(float)
        np.testing.assert_allclose(unit_logits(q, u_tm1, v), 1.5 * unit_logits(p, u_tm1, v), rtol=1e-5, atol=1e-6)
    assert rnn_rbm_generate.main([out, "--out", str(tmp_path / "songs"), "--num-songs", "1", "--length", "8", "--quiet"])
