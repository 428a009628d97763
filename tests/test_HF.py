"""Hessian-free optimization (HF.py, rnn_rbm.build_hf_training_graph, training.hf_epoch)."""
import numpy as np
import pytest

import checkpoints
import config
import HF
import rnn_rbm
import rnn_rbm_train
import weight_initializations
from tf1 import tf

TINY = dict(lowest_note=60, highest_note=66, n_hidden=5, n_hidden_recurrent=4, init_std_W=0.4, init_std_rnn=0.4,
            optimizer="hf")


def tiny_songs(seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((3, 8, 7)) < 0.35).astype(np.float32)
    mask = np.ones((3, 8), np.float32)
    mask[2, 5:], x[2, 5:] = 0.0, 0.0                  # a shorter song: padding
    return x, mask


def hf_model(model, cell, seed=0):
    hp = config.preset("paper", model=model, cell=cell, **TINY)
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(seed)
        m = rnn_rbm.build_training_graph(hp)
        sess = tf.Session(graph=graph)
        sess.run(tf.global_variables_initializer())
    return hp, sess, m


def flat_values(sess, tensors):
    return np.concatenate([np.ravel(a) for a in sess.run(tensors)]).astype(np.float64)


def shifted(sess, m, d, fetch, feed):
    """fetch at theta + d, theta restored after."""
    theta = sess.run(m.hf.params)
    sess.run(m.hf.shift, {m.hf.direction: d.astype(np.float32)})
    out = sess.run(fetch, feed)
    for var, value in zip(m.hf.params, theta):
        var.load(value, sess)
    return out


@pytest.mark.parametrize("model, cell", [("rnn", "rnn"), ("rnn", "lstm"), ("rnn-nade", "rnn"), ("rnn-nade", "gru")])
def test_the_gauss_newton_product_matches_finite_differences(model, cell):
    """On the output layer (bv, Wuv, and the NADE's V) the logits are linear in the parameters, so
    there the Gauss-Newton matrix is the Hessian: G d must be the finite difference of the
    gradient. Along every parameter, d.G d must be sum H (J d)^2 with J d by finite differences of
    the logits, and the structural term mu lam ||J_s d||^2 with J_s d those of the states."""
    hp, sess, m = hf_model(model, cell)
    x, mask = tiny_songs()
    feed = {m.x: x, m.mask: mask}
    names = list(rnn_rbm.named_variables(m.params))
    sizes = [int(np.prod(v.shape.as_list())) for v in m.hf.params]
    rng = np.random.default_rng(1)
    output = np.concatenate([rng.normal(size=n) * (name in ("bv", "Wuv", "V")) for name, n in zip(names, sizes)])
    eps = 1e-2
    product = sess.run(m.hf.product_sum, {**feed, m.hf.direction: output.astype(np.float32), m.hf.lam: 0.0})
    g_plus, g_minus = (shifted(sess, m, s * eps * output, m.hf.grad_sum, feed) for s in (1, -1))
    fd = (g_plus - g_minus) / (2 * eps)
    block = output != 0
    np.testing.assert_allclose(product[block], fd[block], rtol=2e-2, atol=2e-3 * np.abs(fd[block]).max())

    d = rng.normal(size=sum(sizes))
    z_of = m.hf.logits
    z_plus, z_minus = (shifted(sess, m, s * eps * d, [z_of, m.u_tm1], feed) for s in (1, -1))
    z = sess.run(z_of, feed)
    jd, jsd = (z_plus[0] - z_minus[0]) / (2 * eps), (z_plus[1] - z_minus[1]) / (2 * eps)
    weights = mask.reshape(-1, 1)
    curvature = 1 / (1 + np.exp(-z)) * (1 - 1 / (1 + np.exp(-z))) * weights
    lam = 0.5
    product = sess.run(m.hf.product_sum, {**feed, m.hf.direction: d.astype(np.float32), m.hf.lam: lam})
    expected = np.sum(curvature * jd ** 2) + hp.hf_structural * lam * np.sum(mask[:, :, None] * jsd ** 2)
    assert d @ product == pytest.approx(expected, rel=2e-2)
    sess.close()


def test_an_undamped_step_on_a_convex_quadratic_reaches_cgs_tolerance():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(30, 30))
    A = A @ A.T + 0.1 * np.eye(30)                     # convex, condition number in the thousands
    g = rng.normal(size=30)
    for preconditioner in (None, np.diag(A) ** HF.PRECONDITIONER_POWER):
        solved = HF.conjugate_gradient(lambda v: A @ v, -g, np.zeros(30), preconditioner, max_iters=200, tol=1e-8,
                                       progress=False)
        x = solved.iterates[-1][1]
        assert solved.reason == "tolerance" and solved.residual <= 1e-8
        assert np.linalg.norm(A @ x + g) <= 1e-8 * np.linalg.norm(g)


def test_an_undamped_hf_step_on_a_logistic_regression_reaches_cgs_tolerance():
    """The Gauss-Newton products by the R-operator, then CG, on a small logistic regression: the
    step solves G d = -g to CG's tolerance, G d matches X^T diag(p (1 - p)) X d, and the step
    lowers the loss."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 6)).astype(np.float32)
    y = (rng.random(200) < 1 / (1 + np.exp(-X @ rng.normal(size=6)))).astype(np.float32)
    with tf.Graph().as_default(), tf.Session() as sess:
        w = tf.Variable(tf.zeros([6]))
        z = tf.tensordot(tf.constant(X), w, 1)
        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.constant(y), logits=z))
        d = tf.placeholder(tf.float32, [6])
        local = tf.identity(w)
        z_local = tf.tensordot(tf.constant(X), local, 1)
        curvature = tf.sigmoid(z_local) * (1 - tf.sigmoid(z_local)) / 200.0
        gd = HF.transpose_product(z_local, [local], curvature * HF.jvp(z_local, [local], [d]))[0]
        grad = tf.gradients(loss, w)[0]
        sess.run(tf.global_variables_initializer())
        p = 1 / (1 + np.exp(-X @ sess.run(w)))
        G = X.T @ (X * (p * (1 - p))[:, None]) / 200
        probe = rng.normal(size=6)
        np.testing.assert_allclose(sess.run(gd, {d: probe}), G @ probe, rtol=1e-4, atol=1e-6)
        g = sess.run(grad).astype(np.float64)
        solved = HF.conjugate_gradient(lambda v: sess.run(gd, {d: v.astype(np.float32)}).astype(np.float64), -g,
                                       np.zeros(6), max_iters=50, tol=1e-4, progress=False)
        step = solved.iterates[-1][1]
        assert solved.reason == "tolerance" and np.linalg.norm(G @ step + g) <= 2e-4 * np.linalg.norm(g)
        before = sess.run(loss)
        sess.run(w.assign_add(step.astype(np.float32)))
        assert sess.run(loss) < before


def test_the_damping_rule_moves_lambda_the_right_way_on_a_hand_made_step():
    f = lambda x: x ** 4 + x ** 2                      # at x = 1: f' = 6, f'' = 14
    x, g, curvature = 1.0, 6.0, 14.0
    for lam, expect in ((0.0, "same"), (20.0, "drop"), (-10.0, "boost")):
        step = -g / (curvature + lam) if lam > -10 else -g / 2.0     # -10: a step far longer than the model trusts
        model_change = g * step + 0.5 * curvature * step ** 2
        rho = HF.reduction_ratio(f(x + step), f(x), model_change)
        new = HF.damping_update(1.0, rho)
        assert {"drop": new < 1.0, "boost": new > 1.0, "same": True}[expect], (lam, rho, new)
    assert HF.damping_update(1.0, 0.9) == pytest.approx(HF.DROP)       # the quadratic predicted well: trust it more
    assert HF.damping_update(1.0, 0.1) == pytest.approx(HF.BOOST)      # badly: trust it less
    assert HF.damping_update(1.0, 0.5) == 1.0
    assert HF.damping_update(1.0, HF.reduction_ratio(1.0, 0.0, 0.5)) == pytest.approx(HF.BOOST)   # no predicted descent


def test_backtracking_takes_the_best_of_the_late_iterates():
    iterates = [(1, np.array([1.0])), (2, np.array([2.0])), (3, np.array([3.0]))]
    assert HF.backtrack(iterates, lambda x: (x[0] - 2.2) ** 2)[0] == 2
    assert HF.backtrack(iterates, lambda x: (x[0] - 5.0) ** 2)[0] == 3


@pytest.mark.parametrize("model", ["rnn-rbm", "rtrbm", "rnn-dbn"])
def test_hf_stops_with_one_line_for_a_model_trained_by_cd(model):
    with pytest.raises(ValueError, match="contrastive divergence, which has no objective"):
        config.preset("paper", model=model, optimizer="hf")


def test_hf_trains_resumes_with_its_damping_and_lowers_the_cost(tmp_path, capsys):
    songs = tmp_path / "songs.pickle"
    rng = np.random.default_rng(0)
    import pickle
    data = {split: [[[60 + int(k) for k in np.flatnonzero(rng.random(7) < 0.4)] for _ in range(12)] for _ in range(4)]
            for split in ("train", "valid", "test")}
    with open(songs, "wb") as f:
        pickle.dump(data, f)
    common = ["--data", str(songs), "--cache-dir", "", "--quiet"]
    assert weight_initializations.main([*common, "--checkpoint-dir", str(tmp_path), "--preset", "paper", "--model",
                                        "rnn-nade", "--n-hidden", "5", "--n-hidden-recurrent", "4", "--lowest-note",
                                        "60", "--highest-note", "66", "--pretrain-epochs", "0"]) == 0
    train = ["--optimizer", "hf", "--hf-curvature-share", "0.5", "--save-every", "1", *common]
    assert rnn_rbm_train.main(["3", "--checkpoint-dir", str(tmp_path / "a"), "--init", str(tmp_path / "initialized.ckpt"),
                               *train]) == 0
    assert rnn_rbm_train.main(["2", "--checkpoint-dir", str(tmp_path / "b"), "--init", str(tmp_path / "initialized.ckpt"),
                               *train]) == 0
    assert rnn_rbm_train.main(["3", "--resume", "--checkpoint-dir", str(tmp_path / "b"), *common]) == 0
    straight, resumed = (dict((name, tf.train.load_variable(str(tmp_path / run / "epoch_3.ckpt"), name))
                              for name, _ in tf.train.list_variables(str(tmp_path / run / "epoch_3.ckpt")))
                         for run in ("a", "b"))
    assert "hf/lambda" in straight and "hf/delta" in straight
    for name in straight:
        np.testing.assert_allclose(resumed[name], straight[name], rtol=1e-5, atol=1e-6, err_msg=name)
    costs = [checkpoints.load_hparams(str(tmp_path / "a" / f"epoch_{e}.ckpt"))[1]["cost"] for e in (1, 3)]
    assert costs[1] < costs[0]


def test_hf_refuses_a_weight_decay_it_would_ignore():
    with pytest.raises(ValueError, match="weight-decay is not part of the Hessian-free objective"):
        config.preset("paper", model="rnn-nade", optimizer="hf", weight_decay=1e-4)
