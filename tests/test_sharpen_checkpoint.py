"""sharpen_checkpoint.py: a tiny_run model at inverse temperature alpha."""

import numpy as np
import pytest

import checkpoints
import rnn_rbm_generate
import sharpen_checkpoint
from tf1 import tf

def test_sharpen_scales_every_frame_energy_and_leaves_the_rnn(tiny_run, tmp_path):
    src = str(tiny_run / "ckpt" / "epoch_1.ckpt")
    out = sharpen_checkpoint.sharpen(src, str(tmp_path / "sharp.ckpt"), 1.5)
    before, after = tf.train.load_checkpoint(src), tf.train.load_checkpoint(out)
    p = {name: before.get_tensor(name) for name in before.get_variable_to_shape_map()}
    q = {name: after.get_tensor(name) for name in after.get_variable_to_shape_map()}
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
    twice = sharpen_checkpoint.sharpen(out, str(tmp_path / "sharper.ckpt"), 2.0, k_generate=7)
    assert checkpoints.load_hparams(twice)[1]["alpha"] == pytest.approx(3.0)
    assert checkpoints.load_hparams(twice)[0] == checkpoints.load_hparams(src)[0].replace(k_generate=7)
    assert rnn_rbm_generate.main([twice, "--out", str(tmp_path / "songs"), "--num-songs", "1", "--length", "8",
                                  "--quiet"])


def test_sharpen_refuses_bad_alpha_and_overwriting(tiny_run, tmp_path):
    src = str(tiny_run / "ckpt" / "epoch_1.ckpt")
    with pytest.raises(ValueError, match="not a positive number"):
        sharpen_checkpoint.sharpen(src, str(tmp_path / "s.ckpt"), 0.0)
    with pytest.raises(ValueError, match="at least 1 Gibbs step"):
        sharpen_checkpoint.sharpen(src, str(tmp_path / "s.ckpt"), 1.2, k_generate=0)
    with pytest.raises(ValueError, match="is the input checkpoint"):
        sharpen_checkpoint.sharpen(src, src, 1.2)
    with pytest.raises(ValueError, match="exists already"):
        sharpen_checkpoint.sharpen(src, str(tiny_run / "ckpt" / "initialized.ckpt"), 1.2)
