"""The RNN-RBM graph: conditioning, recurrence, chunking, and generation."""
import itertools

import numpy as np
import pytest
from tf1 import tf

import config
import rnn_rbm
from config import HParams

HP = HParams(lowest_note=60, highest_note=65, steps_per_rbm=2, n_hidden=5, n_hidden_recurrent=4,
             init_std_rnn=0.5, k_train=2, k_generate=3)   # n_visible = 6 keys * 2 bits * 2 steps = 24


def np_params(sess, params):
    return params._replace(**{name: sess.run(var) for name, var in params._asdict().items() if var is not None})


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def np_cell(cell, s, v, p):
    """The state after row v from state s, by the textbook equations of each cell."""
    nr = len(p.u0)
    x_in = p.bu + v @ p.Wvu
    if cell == "rnn":
        return np.tanh(x_in + s @ p.Wuu)
    if cell == "gru":
        z = sigmoid(x_in[:nr] + s @ p.Wuu[:, :nr])
        r = sigmoid(x_in[nr:2 * nr] + s @ p.Wuu[:, nr:2 * nr])
        n = np.tanh(x_in[2 * nr:] + (r * s) @ p.Wuu[:, 2 * nr:])
        return (1 - z) * n + z * s
    h, c = s[:nr], s[nr:]
    gates = x_in + h @ p.Wuu
    i, f, o, g = sigmoid(gates[:nr]), sigmoid(gates[nr:2 * nr]), sigmoid(gates[2 * nr:3 * nr]), np.tanh(gates[3 * nr:])
    c = f * c + i * g
    return np.concatenate([o * np.tanh(c), c])


def np_start(p, cell):
    return np.concatenate([p.u0, np.zeros_like(p.u0)]) if cell == "lstm" else p.u0


def np_rnn(x, p, cell):
    """(output u or h before each row, bv_t, bh_t, state after the song) of the equations, for one
    song x [time, n_visible] that starts from the initial state."""
    s, u_tm1 = np_start(p, cell), []
    for v in x:
        u_tm1.append(s[:len(p.u0)])
        s = np_cell(cell, s, v, p)
    u_tm1 = np.array(u_tm1)
    return u_tm1, p.bv + u_tm1 @ p.Wuv, p.bh + u_tm1 @ p.Wuh, s


@pytest.fixture(params=["rnn", "lstm", "gru"])
def model(request):
    cell = request.param
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)
        m = rnn_rbm.build_training_graph(HP.replace(cell=cell))
        sess = tf.Session(graph=graph)
        sess.run(tf.global_variables_initializer())
        sess.run(m.params.u0.assign(np.linspace(-0.5, 0.5, 4)))
        sess.run(m.params.bu.assign(np.linspace(0.3, -0.3, 4 * rnn_rbm.GATES[cell])))
        yield sess, m, cell
        sess.close()


def song(seed, steps=7):
    return (np.random.default_rng(seed).random((steps, HP.n_visible)) < 0.4).astype(np.float32)


@pytest.mark.parametrize("model_name", config.MODELS)
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_distribution_at_t_never_sees_v_t_whatever_the_model_and_cell(model_name, cell):
    if model_name == "rtrbm" and cell != "rnn":
        pytest.skip("an RTRBM has no --cell: its recurrence is its RBM's hidden units")
    hp = HP.replace(model=model_name, cell=cell, init_std_W=0.5)
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(1)
        m = rnn_rbm.build_training_graph(hp)
        fetch = [m.bv_t] + ([m.bh_t] if m.bh_t is not None else [])
        exact = rnn_rbm.build_exact_likelihood_graph(hp, 1) if rnn_rbm.exact(hp) else None
        with tf.Session(graph=graph) as sess:
            sess.run(tf.global_variables_initializer())
            if exact:         # the same weights in the likelihood graph
                sess.run([mine.assign(theirs) for mine, theirs in zip(rnn_rbm.variables(exact.params),
                                                                       rnn_rbm.variables(m.params))])
            x = song(1)
            changed = x.copy()
            t = 3
            changed[t] = 1.0 - changed[t]
            before, after = (sess.run(fetch, {m.x: rows[None]}) for rows in (x, changed))
            for a, b in zip(before, after):
                np.testing.assert_array_equal(a[0, :t + 1], b[0, :t + 1])   # rows up to t are unchanged ...
                assert np.abs(a[0, t + 1] - b[0, t + 1]).max() > 1e-3       # ... and row t+1 hears about v_t
            if exact:
                log_p = [sess.run(exact.log_p, {exact.x: rows[None]})[0] for rows in (x, changed)]
                np.testing.assert_array_equal(log_p[0][:t], log_p[1][:t])
                assert log_p[0][t] != log_p[1][t] and abs(log_p[0][t + 1] - log_p[1][t + 1]) > 1e-4


TINY_EXACT = HParams(lowest_note=60, highest_note=62, articulation=False, steps_per_rbm=1, n_hidden=4,
                     n_hidden_recurrent=3, init_std_W=0.8, init_std_rnn=0.8)       # 3 units: 64 two-frame songs


def exact_model(model_name, cell, n_samples=1, best_of=1):
    """(session, generation graph, likelihood graph with the same weights) of a tiny exact model."""
    hp = TINY_EXACT.replace(model=model_name, cell=cell, best_of=best_of)
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(3)
        gen = rnn_rbm.build_generation_graph(hp)
        exact = rnn_rbm.build_exact_likelihood_graph(hp, n_samples)
        sess = tf.Session(graph=graph)
        sess.run(tf.global_variables_initializer())
        sess.run([mine.assign(theirs + 0.3) for mine, theirs in zip(rnn_rbm.variables(exact.params),
                                                                     rnn_rbm.variables(gen.params))])
        sess.run([mine.assign(theirs) for mine, theirs in zip(rnn_rbm.variables(gen.params),
                                                               rnn_rbm.variables(exact.params))])
    return sess, gen, exact


def two_frame_songs():
    return np.array(list(itertools.product([0, 1], repeat=6)), np.float32).reshape(64, 2, 3)


@pytest.mark.parametrize("model_name, cell", [("rnn-nade", "rnn"), ("rnn-nade", "lstm"), ("rnn", "gru")])
def test_exact_song_probabilities_sum_to_one_and_generation_draws_from_them(model_name, cell):
    sess, gen, exact = exact_model(model_name, cell)
    with sess:
        songs = two_frame_songs()
        p = np.exp(sess.run(exact.log_p, {exact.x: songs}).astype(np.float64).sum(1))       # [64]
        assert p.sum() == pytest.approx(1.0, abs=1e-5)
        n = 100_000
        music = sess.run(gen.music, {gen.n_songs: n, gen.n_steps: 2, gen.seed: [9, 0]})   # [n, 2, 3]
    index = music.reshape(n, 6).astype(np.int64) @ (1 << np.arange(6)[::-1])          # two_frame_songs' order
    frequencies = np.bincount(index, minlength=64) / n
    np.testing.assert_allclose(frequencies, p, atol=4 * np.sqrt(p * (1 - p) / n).max() + 1e-4)


def likeliest_of(p, k):
    """P(x is the likeliest of k independent draws from p), for every x: F(x)^k - F'(x)^k, where F
    sums p over the values as likely as x or less, F' over those less likely."""
    return np.array([p[p <= q].sum() ** k - p[p < q].sum() ** k for q in p])


@pytest.mark.parametrize("model_name, cell", [("rnn-nade", "rnn"), ("rnn", "lstm")])
def test_best_of_k_generation_draws_each_frame_as_the_likeliest_of_k_exact_draws(model_name, cell):
    k = 3
    sess, gen, exact = exact_model(model_name, cell, best_of=k)
    with sess:
        p = np.exp(sess.run(exact.log_p, {exact.x: two_frame_songs()}).astype(np.float64))   # [64, 2]
        n = 100_000
        music = sess.run(gen.music, {gen.n_songs: n, gen.n_steps: 2, gen.seed: [9, 0]})
    first = likeliest_of(p[::8, 0], k)                                   # song 8 a + b: frames a, then b
    expected = np.concatenate([first[a] * likeliest_of(p[8 * a:8 * a + 8, 1], k) for a in range(8)])
    assert expected.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.abs(expected - p.prod(1)).max() > 0.02                     # not plain sampling
    index = music.reshape(n, 6).astype(np.int64) @ (1 << np.arange(6)[::-1])
    frequencies = np.bincount(index, minlength=64) / n
    np.testing.assert_allclose(frequencies, expected, atol=4 * np.sqrt(expected * (1 - expected) / n).max() + 1e-4)


def test_best_of_keeps_each_rows_highest_scoring_candidate_and_ranks_rbm_frames_by_free_energy():
    candidates = np.random.default_rng(0).random((4, 5, 6)).round().astype(np.float32)   # [draw, row, unit]
    score = lambda v: v @ np.arange(1.0, 7.0)
    fake = rnn_rbm.Conditional(log_prob=None, cost=None, pretrain_costs=None,
                               sample=lambda v_prev, *_: tf.reshape(tf.constant(candidates), [-1, 6]),
                               score=lambda v, *_: tf.linalg.matvec(v, tf.range(1.0, 7.0)))
    with tf.Graph().as_default(), tf.Session() as sess:
        bv = tf.zeros([5, 6])
        got = sess.run(rnn_rbm.best_of_sample(fake, 4, bv, None, bv, None, 1, None, False, 1))
        W, v = np.random.default_rng(1).normal(size=(6, 3)), candidates[0]
        p = rnn_rbm.Params(*[None] * 9)._replace(W=tf.constant(W, tf.float32))
        rbm = sess.run(rnn_rbm.CONDITIONALS["rnn-rbm"].score(tf.constant(v), p, tf.constant(v), tf.zeros([5, 3])))
    np.testing.assert_array_equal(got, candidates[score(candidates).argmax(0), np.arange(5)])
    free_energy = -(v * v).sum(1) - np.logaddexp(0, v @ W).sum(1)       # F(v) with bv_t = v, bh_t = 0
    np.testing.assert_allclose(rbm, -free_energy, rtol=1e-5)


def test_voices_rank_first_then_the_score_among_the_candidates_with_the_fewest_misses():
    hp = config.HParams(lowest_note=60, highest_note=62, articulation=True, steps_per_rbm=2, voices=2).validate()
    rng = np.random.default_rng(4)
    candidates = rng.random((8, 30, hp.n_visible)).round().astype(np.float32)      # [draw, row, unit]
    score = lambda v: v @ np.linspace(-1.0, 2.0, hp.n_visible)
    fake = rnn_rbm.Conditional(log_prob=None, cost=None, pretrain_costs=None,
                               sample=lambda v_prev, *_: tf.reshape(tf.constant(candidates), [-1, hp.n_visible]),
                               score=lambda v, *_: tf.linalg.matvec(v, tf.linspace(-1.0, 2.0, hp.n_visible)))
    with tf.Graph().as_default(), tf.Session() as sess:
        bv = tf.zeros([30, hp.n_visible])
        got = sess.run(rnn_rbm.best_of_sample(fake, 8, bv, None, bv, None, 1, None, False, 1, rnn_rbm.voice_misses(hp)))
    play = candidates.reshape(8, 30, 2, 6)[..., :3]                                  # the articulate bits do not count
    misses = (play.sum(-1) != 2).sum(-1)                                             # [draw, row]
    ranked = np.where(misses == misses.min(0), score(candidates), -np.inf)
    np.testing.assert_array_equal(got, candidates[ranked.argmax(0), np.arange(30)])
    assert (ranked.argmax(0) != score(candidates).argmax(0)).any()                   # the voices changed a choice
    assert rnn_rbm.voice_misses(hp.replace(voices=0)) is None


def test_the_likelihood_graphs_samples_are_draws_of_each_frame_given_the_true_frames_before():
    sess, _, exact = exact_model("rnn-nade", "rnn", n_samples=50_000)
    with sess:
        song_ = np.array([[[1, 0, 1], [0, 1, 1]]], np.float32)
        samples = sess.run(exact.samples, {exact.x: song_, exact.seed: [4, 0]})[0, 1]     # frame 2 given frame 1
        songs = np.concatenate([np.repeat(song_[:, :1], 8, 0), every_frame()[:, None]], 1)   # [8, 2, 3]
        p = np.exp(sess.run(exact.log_p, {exact.x: songs})[:, 1].astype(np.float64))
    frequencies = np.bincount(samples.astype(np.int64) @ [4, 2, 1], minlength=8) / len(samples)
    np.testing.assert_allclose(frequencies, p, atol=4 * np.sqrt(p * (1 - p) / len(samples)).max() + 1e-4)


def every_frame():
    return np.array(list(itertools.product([0, 1], repeat=3)), np.float32)


def test_biases_and_recurrence_match_numpy_for_every_cell(model):
    sess, m, cell = model
    p = np_params(sess, m.params)
    x = song(2)
    u_tm1, bv, bh, u_last = sess.run([m.u_tm1, m.bv_t, m.bh_t, m.u_final], {m.x: x[None]})
    want_u_tm1, want_bv, want_bh, want_last = np_rnn(x, p, cell)
    np.testing.assert_allclose(u_tm1[0], want_u_tm1, atol=1e-5)
    np.testing.assert_allclose(u_tm1[0, 0], p.u0, atol=1e-7)           # the first RBM hears the trained u0
    np.testing.assert_allclose(bv[0], want_bv, atol=1e-5)
    np.testing.assert_allclose(bh[0], want_bh, atol=1e-5)
    np.testing.assert_allclose(u_last[0], want_last, atol=1e-5)


def test_state_carries_across_chunks(model):
    sess, m, cell = model
    x = song(3, steps=10)
    whole = sess.run(m.bv_t, {m.x: x[None]})[0]
    first, u = sess.run([m.bv_t, m.u_final], {m.x: x[None, :6]})
    second = sess.run(m.bv_t, {m.x: x[None, 6:], m.u_carry: u, m.reset: np.zeros((1, 4))})
    np.testing.assert_allclose(np.vstack([first[0], second[0]]), whole, atol=1e-5)


def test_lanes_reset_at_song_starts_and_padding_reaches_no_real_row(model):
    sess, m, cell = model
    p = np_params(sess, m.params)
    a, b = song(4, steps=4), song(5, steps=3)
    # lane 0 holds a then b; lane 1 holds b then four rows of padding, which end a lane (pack_lanes)
    x = np.zeros((2, 7, HP.n_visible), np.float32)
    x[0, :4], x[0, 4:], x[1, :3] = a, b, b
    x[1, 3:] = 1.0                                                    # padding garbage must not matter
    mask = np.array([[1] * 7, [1, 1, 1, 0, 0, 0, 0]], np.float32)
    reset = np.array([[1, 0, 0, 0, 1, 0, 0], [1, 0, 0, 0, 0, 0, 0]], np.float32)
    bv, u_last = sess.run([m.bv_t, m.u_final], {m.x: x, m.mask: mask, m.reset: reset})
    np.testing.assert_allclose(bv[0, :4], np_rnn(a, p, cell)[1], atol=1e-5)
    np.testing.assert_allclose(bv[0, 4:], np_rnn(b, p, cell)[1], atol=1e-5)
    np.testing.assert_allclose(bv[1, :3], np_rnn(b, p, cell)[1], atol=1e-5)
    np.testing.assert_allclose(u_last[0], np_rnn(b, p, cell)[3], atol=1e-5)


def test_padding_never_reaches_the_gradients(model):
    sess, m, cell = model
    grads = tf.gradients(m.cost, rnn_rbm.variables(m.params))
    x = np.zeros((1, 6, HP.n_visible), np.float32)
    x[0, :3] = song(6, steps=3)
    mask = np.array([[1, 1, 1, 0, 0, 0]], np.float32)

    def run_fresh():   # a new session replays the same random draws
        with tf.Session(graph=sess.graph) as fresh:
            fresh.run(tf.global_variables_initializer())
            return fresh.run(grads, {m.x: x, m.mask: mask})

    g_a = run_fresh()
    x[0, 3:] = 1.0
    g_b = run_fresh()
    assert any(np.abs(g).max() > 1e-3 for g in g_a)
    for a, b in zip(g_a, g_b):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_a_graph_built_for_its_lane_count_trains_exactly_as_the_general_one(cell):
    hp = HP.replace(cell=cell, model="rnn-nade")    # exact: no random draws between the graphs
    x = np.stack([np.concatenate([song(7, 4), song(8, 3)]), np.pad(song(9, 5), [(0, 2), (0, 0)])])   # [2, 7, nv]
    feed = lambda m: {m.x: x, m.mask: np.array([[1] * 7, [1] * 5 + [0] * 2], np.float32),
                      m.reset: np.array([[1, 0, 0, 0, 1, 0, 0], [1] + [0] * 6], np.float32),
                      m.u_carry: np.linspace(-0.3, 0.3, 2 * rnn_rbm.state_size(hp)).reshape(2, -1)}
    results, weights = [], None
    for lanes in (None, 2):
        with tf.Graph().as_default():
            m = rnn_rbm.build_training_graph(hp, lanes=lanes)
            assert m.x.shape.as_list()[0] == lanes
            grads = tf.gradients(m.cost, rnn_rbm.variables(m.params))
            with tf.Session() as sess:
                sess.run(tf.global_variables_initializer())
                if weights is None:     # the first graph's, with biases that make the gates differ
                    weights = sess.run(rnn_rbm.variables(m.params))
                    bu = rnn_rbm.variables(m.params).index(m.params.bu)
                    weights[bu] = np.linspace(0.3, -0.3, len(weights[bu]))
                sess.run([var.assign(w) for var, w in zip(rnn_rbm.variables(m.params), weights)])
                results.append(sess.run([m.cost, m.u_tm1, m.u_final] + grads, feed(m)))
    for general, fixed in zip(*results):
        np.testing.assert_allclose(fixed, general, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_recurrences_gradient_matches_tensorflows_own_through_the_textbook_step(cell):
    """The hand-written backward pass (rnn_rbm.recurrence) against TensorFlow's gradient of the
    step as cell_update writes it, unrolled in Python: songs that start mid-lane (on a lane's
    second and last rows too), a carried state, and padding at a lane's end."""
    hp = HP.replace(cell=cell, model="rnn-nade")
    x = np.stack([np.concatenate([song(7, 4), song(8, 3)]), np.pad(song(9, 5), [(0, 2), (0, 0)])])   # [2, 7, nv]
    mask = np.array([[1] * 7, [1] * 5 + [0] * 2], np.float32)
    reset = np.array([[1, 0, 0, 0, 1, 0, 0], [0, 1, 0, 0, 0, 0, 1]], np.float32)
    u_carry = np.linspace(-0.6, 0.6, 2 * rnn_rbm.state_size(hp)).reshape(2, -1).astype(np.float32)
    with tf.Graph().as_default():
        tf.set_random_seed(5)
        m = rnn_rbm.build_training_graph(hp, lanes=2)
        p = m.params
        nr = HP.n_hidden_recurrent
        x_in = p.bu + tf.tensordot(m.x, p.Wvu, 1)
        s, textbook_u_tm1 = m.u_carry, []
        for t in range(7):
            keep, start = 1.0 - m.reset[:, t, None], m.reset[:, t, None] * rnn_rbm.initial_state(cell, p)
            s_tm1 = keep * s + start
            textbook_u_tm1.append(rnn_rbm.output(cell, s_tm1, nr))
            s = rnn_rbm.cell_update(cell, s_tm1, x_in[:, t], rnn_rbm.recurrent_weights(cell, p.Wuu, nr), nr)
        rng = np.random.default_rng(6)
        weigh = lambda u_tm1, u_last: (tf.reduce_sum(rng.normal(size=(2, 7, nr)).astype(np.float32) * u_tm1)
                                       + tf.reduce_sum(rng.normal(size=u_carry.shape).astype(np.float32) * u_last))
        wrt = rnn_rbm.variables(p) + [m.u_carry]
        ours = tf.gradients(weigh(m.u_tm1, m.u_final), wrt)
        rng = np.random.default_rng(6)
        textbook = tf.gradients(weigh(tf.stack(textbook_u_tm1, 1), s), wrt)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(p.bu.assign(np.linspace(0.5, -0.5, int(p.bu.shape[0]))))
            feed = {m.x: x, m.mask: mask, m.reset: reset, m.u_carry: u_carry}
            ours, textbook = sess.run([[g for g in ours if g is not None], [g for g in textbook if g is not None]], feed)
    assert len(ours) == len(textbook) == 5           # Wvu, Wuu, bu, u0 and u_carry
    for a, b in zip(ours, textbook):
        assert np.abs(b).max() > 1e-3
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_initial_weights():
    hp = HParams()
    with tf.Graph().as_default():
        p = rnn_rbm.create_params(hp)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            W, Wuv, bv = sess.run([p.W, p.Wuv, p.bv])
    assert abs(W.mean()) < 1e-3 and W.std() == pytest.approx(0.01, rel=0.05)       # stddev, not mean
    assert abs(Wuv.mean()) < 1e-5 and Wuv.std() == pytest.approx(0.0001, rel=0.05)
    assert not bv.any()


def generate(seed, primer=None, n_songs=2, n_steps=5):
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(seed)
        gen = rnn_rbm.build_generation_graph(HP)
        with tf.Session(graph=graph) as sess:
            sess.run(tf.global_variables_initializer())
            feed = {gen.n_songs: n_songs, gen.n_steps: n_steps, gen.seed: [seed, 0]}
            if primer is not None:
                feed[gen.primer] = primer
            return sess.run(gen.music, feed)


def test_generation_shape_values_and_seed():
    a = generate(7)
    assert a.shape == (2, 5, HP.n_visible)
    assert set(np.unique(a)) <= {0.0, 1.0}
    np.testing.assert_array_equal(a, generate(7))
    assert not np.array_equal(a, generate(8))
    assert generate(7, primer=song(9, steps=3)).shape == (2, 5, HP.n_visible)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_generation_in_segments_equals_one_run(cell):
    graph = tf.Graph()
    with graph.as_default():
        gen = rnn_rbm.build_generation_graph(HP.replace(cell=cell))
        with tf.Session(graph=graph) as sess:
            sess.run(tf.global_variables_initializer())
            whole = sess.run(gen.music, {gen.n_songs: 2, gen.n_steps: 7, gen.seed: [5, 0]})
            first, u, v = sess.run([gen.music, gen.u_end, gen.v_end], {gen.n_songs: 2, gen.n_steps: 3, gen.seed: [5, 0]})
            rest = sess.run(gen.music, {gen.u_start: u, gen.v_start: v, gen.n_steps: 4, gen.seed: [5, 0],
                                        gen.first_step: 3})
    np.testing.assert_array_equal(np.concatenate([first, rest], axis=1), whole)


def test_batched_loss_equals_per_song_loss_on_the_same_draws(model):
    # the same negative samples v* fed to every layout: one song per run, two lanes, one lane of two songs
    sess, m, cell = model
    grads = tf.gradients(m.cost, rnn_rbm.variables(m.params))
    rng = np.random.default_rng(11)
    a, b = song(12, steps=7), song(13, steps=5)
    sample_a, sample_b = [(rng.random(s.shape) < 0.3).astype(np.float32) for s in (a, b)]

    def run(x, sample, feed=None):
        return sess.run([m.cost, grads], {m.x: x, m.v_sample: sample, **(feed or {})})

    cost_a, grads_a = run(a[None], sample_a)
    cost_b, grads_b = run(b[None], sample_b)
    want_cost = (7 * cost_a + 5 * cost_b) / 12
    want_grads = [(7 * ga + 5 * gb) / 12 for ga, gb in zip(grads_a, grads_b)]

    lanes = np.zeros((2, 7, HP.n_visible), np.float32)
    lanes[0], lanes[1, :5] = a, b
    lane_samples = np.zeros((2, 7, HP.n_visible), np.float32)
    lane_samples[0], lane_samples[1, :5] = sample_a, sample_b
    mask = np.array([[1] * 7, [1] * 5 + [0] * 2], np.float32)
    side_by_side = run(lanes, lane_samples.reshape(-1, HP.n_visible), {m.mask: mask})

    reset = np.zeros((1, 12), np.float32)
    reset[0, [0, 7]] = 1
    end_to_end = run(np.vstack([a, b])[None], np.vstack([sample_a, sample_b]), {m.reset: reset})

    for cost, got_grads in (side_by_side, end_to_end):
        assert cost == pytest.approx(want_cost, rel=1e-5)
        for got, want in zip(got_grads, want_grads):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_weight_decay_adds_its_gradient_to_the_weights_only():
    hp = HP.replace(optimizer="sgd", lr=0.1, grad_clip=1e6)
    x = song(3)[None]
    after = {}
    for decay in (0.0, 0.5):
        graph = tf.Graph()
        with graph.as_default(), tf.Session(graph=graph) as sess:
            tf.set_random_seed(0)
            m = rnn_rbm.build_training_graph(hp.replace(weight_decay=decay))
            sess.run(tf.global_variables_initializer())
            before = np_params(sess, m.params)
            if decay == 0.0:
                start = before
            for var, value in zip(rnn_rbm.variables(m.params), rnn_rbm.variables(start)):
                var.load(value, sess)
            sess.run(m.train_op, {m.x: x})
            after[decay] = np_params(sess, m.params)
    for name in ["W", "Wuh", "Wuv", "Wvu", "Wuu"]:       # one SGD step moves each by -lr * decay * w more
        np.testing.assert_allclose(getattr(after[0.5], name) - getattr(after[0.0], name),
                                   -0.1 * 0.5 * getattr(start, name), rtol=1e-3, atol=1e-6)
    for name in ["bv", "bh", "bu", "u0"]:
        np.testing.assert_allclose(getattr(after[0.5], name), getattr(after[0.0], name), atol=1e-6)


def test_rnn_pretraining_cost_is_the_bernoulli_nll_and_leaves_the_rbm_alone():
    hp = HP.replace(optimizer="sgd", lr=0.5)
    graph = tf.Graph()
    with graph.as_default(), tf.Session(graph=graph) as sess:
        tf.set_random_seed(0)
        p = rnn_rbm.create_params(hp)
        rnn = rnn_rbm.build_rnn_pretraining_graph(hp, p)
        sess.run(tf.global_variables_initializer())
        sess.run(rnn.bo.assign(np.linspace(-2, 1, HP.n_visible)))
        x = np.stack([song(1), song(2)])                          # [lanes, time, n_visible]
        mask = np.ones(x.shape[:2], np.float32)
        mask[1, 5:] = 0                                            # lane 1 ends after 5 rows
        before = np_params(sess, p)
        cost = sess.run(rnn.cost, {rnn.x: x, rnn.mask: mask})
        nll = []
        for lane, rows in zip(x, [7, 5]):
            u_tm1, _, _, _ = np_rnn(lane[:rows], before, "rnn")
            prob = 1 / (1 + np.exp(-(np.linspace(-2, 1, HP.n_visible) + u_tm1 @ before.Wuv)))
            nll.extend(-(lane[:rows] * np.log(prob) + (1 - lane[:rows]) * np.log(1 - prob)).sum(1))
        np.testing.assert_allclose(cost, np.mean(nll), rtol=1e-5)
        sess.run(rnn.train_op, {rnn.x: x, rnn.mask: mask})
        after = np_params(sess, p)
        for name in ["W", "bv", "bh", "Wuh"]:
            np.testing.assert_array_equal(getattr(after, name), getattr(before, name))
        for name in ["Wuv", "Wvu", "Wuu", "bu", "u0"]:
            assert not np.allclose(getattr(after, name), getattr(before, name)), name
        assert sess.run(rnn.cost, {rnn.x: x, rnn.mask: mask}) < cost


def test_negative_chains_start_at_the_rows_or_at_other_rows_of_the_batch():
    rows = np.eye(400, dtype=np.float32)                   # every row different, so each start names its row
    starts = {}
    with tf.Graph().as_default(), tf.Session() as sess:
        for swap in (0.0, 0.3, 1.0):
            starts[swap] = sess.run(rnn_rbm.negative_starts(tf.constant(rows), swap, tf.constant([0, 7], tf.int64)))
    np.testing.assert_array_equal(starts[0.0], rows)
    for swap, got in starts.items():
        assert ((got == 0) | (got == 1)).all() and (got.sum(1) == 1).all()   # each start is one row of the batch
        moved = (got.argmax(1) != np.arange(400)).mean()
        assert abs(moved - swap * 399 / 400) < 0.07, (swap, moved)
    with pytest.raises(ValueError, match="--negative-swap must be between 0 and 1"):
        HP.replace(negative_swap=1.5).validate()


def test_seed_rules_and_their_bounds():
    import RBM
    np.testing.assert_array_equal(RBM.epoch_run_seed(7, 3, 5), [7, ((3 << 24) + 5) * RBM.SEED_STRIDE])
    with pytest.raises(ValueError, match="at most 16777216 session runs"):
        RBM.epoch_run_seed(0, 1, 1 << 24)
    with pytest.raises(ValueError, match="int64 seed space"):
        RBM.run_seed(0, 1 << 48)
    with pytest.raises(ValueError, match="more than the 65536 set aside"):
        RBM.check_chain_length(40000)
    with tf.Graph().as_default():               # the negative-swap seeds sit after a chain of up to 500 steps
        rnn_rbm.build_training_graph(HP.replace(negative_swap=0.1, k_train=500))
    with tf.Graph().as_default(), pytest.raises(ValueError, match="more than the 1000 set aside"):
        rnn_rbm.build_training_graph(HP.replace(negative_swap=0.1, k_train=501))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_generation_steps_the_state_as_training_does(cell):
    # the generation graph's own step (rnn_step, from a primer) against the training recurrence in NumPy
    hp = HP.replace(cell=cell)
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(1)
        gen = rnn_rbm.build_generation_graph(hp)
        with tf.Session(graph=graph) as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(gen.params.u0.assign(np.linspace(-0.5, 0.5, 4)))
            p = np_params(sess, gen.params)
            primer = song(11, steps=5)
            u_primed = sess.run(gen.u_start, {gen.primer: primer, gen.n_songs: 1})
    np.testing.assert_allclose(u_primed[0], np_rnn(primer, p, cell)[3], atol=1e-5)
    assert u_primed.shape == (1, rnn_rbm.state_size(hp))


def test_the_rtrbm_state_is_its_rbms_hidden_expectation_as_in_the_paper():
    """r_t = sigmoid(v_t W + bh_t), bh_t = bh + r_{t-1} Wuh, bv_t = bv + r_{t-1} Wuv, r_0 = (1 + u0) / 2,
    in NumPy, against the training graph, the generation graph's steps and the gradient by finite
    differences through both the RBM and the recurrence."""
    hp = HP.replace(model="rtrbm", init_std_W=0.5, init_std_rnn=0.5)
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(2)
        m = rnn_rbm.build_training_graph(hp)
        assert m.params.Wvu is None and m.params.Wuu is None and m.params.bu is None
        with tf.Session(graph=graph) as sess:
            sess.run(tf.global_variables_initializer())
            rng = np.random.default_rng(0)
            sess.run([m.params.u0.assign(rng.uniform(-0.9, 0.9, hp.n_hidden)),
                      m.params.bh.assign(rng.normal(0, 1, hp.n_hidden)), m.params.bv.assign(rng.normal(0, 1, hp.n_visible))])
            W, bv, bh, Wuh, Wuv, u0 = sess.run([m.params.W, m.params.bv, m.params.bh, m.params.Wuh, m.params.Wuv,
                                                 m.params.u0])
            x = song(4)
            got_bv, got_bh = sess.run([m.bv_t, m.bh_t], {m.x: x[None]})
    r, want_bv, want_bh = (1 + u0) / 2, [], []
    for v in x:
        want_bv.append(bv + r @ Wuv)
        want_bh.append(bh + r @ Wuh)
        r = sigmoid(v @ W + want_bh[-1])
    np.testing.assert_allclose(got_bv[0], want_bv, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_bh[0], want_bh, rtol=1e-4, atol=1e-5)


def test_the_rtrbm_gradient_reaches_its_weights_through_the_recurrence():
    hp = HP.replace(model="rtrbm", init_std_W=0.5, init_std_rnn=0.5)
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(2)
        m = rnn_rbm.build_training_graph(hp)
        target = tf.reduce_sum(tf.sin(m.bh_t)) + tf.reduce_sum(tf.cos(m.bv_t))      # a smooth function of the biases
        grads = tf.gradients(target, [m.params.W, m.params.Wuh, m.params.u0])
        with tf.Session(graph=graph) as sess:
            sess.run(tf.global_variables_initializer())
            x = {m.x: song(5)[None]}
            analytic = sess.run(grads, x)
            for var, g in zip([m.params.W, m.params.Wuh, m.params.u0], analytic):
                value = sess.run(var)
                index = tuple(np.unravel_index(np.argmax(np.abs(g)), g.shape))
                eps = 1e-2
                for sign in (1, -1):
                    bumped = value.copy()
                    bumped[index] += sign * eps
                    sess.run(var.assign(bumped))
                    if sign == 1:
                        up = sess.run(target, x)
                    else:
                        down = sess.run(target, x)
                sess.run(var.assign(value))
                assert g[index] == pytest.approx((up - down) / (2 * eps), rel=2e-2)
