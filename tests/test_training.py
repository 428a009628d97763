"""The training loop shared by pretraining and training: lanes, transposition, Ctrl-C."""
import signal

import numpy as np
import pytest

import rnn_rbm
import training
from config import HParams
from tf1 import tf

HP = HParams(lowest_note=60, highest_note=65, steps_per_rbm=2)   # 6 keys x {play, articulate} x 2 steps


def test_lanes_hold_every_song_once_in_order():
    hp = HP.replace(batch_songs=3, chunk_len=4)
    songs = [np.full((n, HP.n_visible), i + 1, np.float32) for i, n in enumerate([5, 3, 7, 2, 6])]
    x, mask, reset = training.pack_lanes(songs, hp, np.random.default_rng(0))
    assert x.shape == (mask.shape[0], 3, 4, HP.n_visible) and x.flags.c_contiguous
    lanes = [np.concatenate(list(x[:, lane])) for lane in range(3)]           # [time, n_visible] per lane
    lane_mask = [np.concatenate(list(mask[:, lane])) for lane in range(3)]
    lane_reset = [np.concatenate(list(reset[:, lane])) for lane in range(3)]
    seen = []
    for rows, m, r in zip(lanes, lane_mask, lane_reset):
        real = int(m.sum())
        assert np.all(m[:real] == 1) and np.all(m[real:] == 0) and np.all(rows[real:] == 0)   # rnn_states needs it
        starts = np.flatnonzero(r)
        for begin, end in zip(starts, list(starts[1:]) + [real]):
            song_id = int(rows[begin, 0])
            np.testing.assert_array_equal(rows[begin:end], songs[song_id - 1])
            seen.append(song_id)
    assert sorted(seen) == [1, 2, 3, 4, 5]
    last = mask[-1]
    assert training.used_steps(last, 4) == max(np.flatnonzero(last.any(0))) + 1   # quarter of 4 is 1 step
    assert training.used_steps(np.ones((3, 100)), 100) == 100
    assert training.used_steps(np.pad(np.ones((3, 26)), [(0, 0), (0, 74)]), 100) == 50


def test_transposed_rows_move_play_and_articulate_bits_of_every_step():
    # one row of HP's layout: step 0 play, step 0 articulate, step 1 play, step 1 articulate (6 keys each)
    row = np.array([[0, 1, 0, 0, 0, 0,  0, 1, 0, 0, 0, 0,  0, 0, 0, 1, 0, 0,  0, 0, 0, 0, 0, 0]], np.float32)
    up2 = np.array([[0, 0, 0, 1, 0, 0,  0, 0, 0, 1, 0, 0,  0, 0, 0, 0, 0, 1,  0, 0, 0, 0, 0, 0]], np.float32)
    down1 = np.array([[1, 0, 0, 0, 0, 0,  1, 0, 0, 0, 0, 0,  0, 0, 1, 0, 0, 0,  0, 0, 0, 0, 0, 0]], np.float32)
    np.testing.assert_array_equal(training.transpose_rows(row, 2, HP.n_notes), up2)
    np.testing.assert_array_equal(training.transpose_rows(row, -1, HP.n_notes), down1)
    np.testing.assert_array_equal(training.transpose_rows(row, 0, HP.n_notes), row)


def test_transposition_keeps_notes_on_the_keys_and_draws_every_allowed_shift():
    hp = HP.replace(transpose=3)
    keys = np.zeros((2, 2 * 2, HP.n_notes), np.float32)       # [rows, steps * bit kinds, n_notes]
    keys[0, 0, 1] = keys[1, 2, 3] = 1                          # the song uses keys 1..3 of 0..5
    song_rows = [keys.reshape(2, HP.n_visible), np.zeros((3, HP.n_visible), np.float32)]
    rng, shifts = np.random.default_rng(0), set()
    for _ in range(200):
        moved, silent = training.transpose_songs(song_rows, hp, rng)
        np.testing.assert_array_equal(silent, song_rows[1])
        assert moved.sum() == song_rows[0].sum()                # nothing fell off either end
        shift = int(np.flatnonzero(moved.reshape(-1, HP.n_notes).any(0))[0]) - 1
        np.testing.assert_array_equal(moved, training.transpose_rows(song_rows[0], shift, HP.n_notes))
        shifts.add(shift)
    assert shifts == {-1, 0, 1, 2}                              # within [-3, 3] and keys 0..5


def test_ctrl_c_sets_a_flag_that_training_reads_and_a_second_press_interrupts():
    ctrl_c = training.CtrlC()
    ctrl_c.install()
    try:
        ctrl_c.check()                                    # not pressed: nothing happens
        signal.raise_signal(signal.SIGINT)                # the first press raises nothing where it lands
        assert ctrl_c.pressed
        with pytest.raises(KeyboardInterrupt):
            ctrl_c.check()                                # it stops training at the next check
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)            # the second press interrupts at once
    finally:
        ctrl_c.restore()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class PressesCtrlCWhenCollected:
    def __del__(self):
        signal.raise_signal(signal.SIGINT)


def test_ctrl_c_that_lands_in_a_finalizer_still_stops_training():
    # Python prints and drops an exception raised in __del__, so a plain KeyboardInterrupt
    # landing there would be lost and training would go on
    ctrl_c = training.CtrlC()
    ctrl_c.install()
    try:
        PressesCtrlCWhenCollected()
        with pytest.raises(KeyboardInterrupt):
            ctrl_c.check()
    finally:
        ctrl_c.restore()


def test_ctrl_c_leaves_an_ignored_sigint_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        ctrl_c = training.CtrlC()
        ctrl_c.install()
        assert not ctrl_c.installed and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        ctrl_c.restore()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_graph_built_for_other_lanes_is_refused_with_the_fix():
    hp = HP.replace(batch_songs=4, model="rnn", n_hidden_recurrent=3)
    songs = [np.ones((3, HP.n_visible), np.float32)] * 2
    assert training.lane_count(hp, songs) == 2 and training.lane_count(hp, songs * 3) == 4
    with tf.Graph().as_default():
        model = rnn_rbm.build_training_graph(hp, lanes=4)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            with pytest.raises(ValueError, match="built for 4 lanes but these 2 songs fill 2.*lane_count"):
                training.train_epoch(sess, model, songs, hp, 1)
            assert np.isfinite(training.train_epoch(sess, model, songs * 3, hp, 1))
