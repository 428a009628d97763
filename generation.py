"""Sampling songs from a checkpoint in a Session: what rnn_rbm_generate.py and the studies share."""
import os

import numpy as np
from tqdm import tqdm

import checkpoints
import rnn_rbm
from tf1 import tf

SEGMENT = 20     # RBM rows generated per session run, so that the progress bar moves
CORES = os.cpu_count() or 1


def generate(checkpoint, hp, num_songs, length, primer=None, seed=0, progress=True, clamp=None):
    """Sample `num_songs` songs of `length` RBM rows: [num_songs, length, n_visible] of 0/1.

    primer: [rows, n_visible] or None; clamp: (mask, values), the units each row holds
    (harmonize.clamp_rows): each [length, n_visible] for every song alike, or
    [length, num_songs, n_visible] per song; or None."""
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(seed)
        fused, blocks = rnn_rbm.sampling_layout(num_songs, CORES, hp)
        gen = rnn_rbm.build_generation_graph(hp, fused, blocks, harmonize=clamp is not None)
        saver = checkpoints.make_saver(gen.params)
        with tf.Session(graph=graph, config=rnn_rbm.session_config(blocks, CORES)) as sess:
            checkpoints.restore(sess, saver, checkpoint)
            feed = {gen.n_songs: num_songs, gen.seed: [seed, 0]}
            if primer is not None:
                feed[gen.primer] = primer
            pieces = []
            with tqdm(total=length, desc=f"generating {num_songs} songs", unit="step", disable=not progress) as bar:
                for begin in range(0, length, SEGMENT):
                    feed[gen.n_steps] = min(SEGMENT, length - begin)
                    feed[gen.first_step] = begin
                    if clamp is not None:
                        feed[gen.clamp_mask], feed[gen.clamp_values] = (
                            (a if a.ndim == 3 else a[:, None])[begin:begin + SEGMENT] for a in clamp)
                    music, u, v = sess.run([gen.music, gen.u_end, gen.v_end], feed)
                    feed = {gen.u_start: u, gen.v_start: v, gen.seed: [seed, 0]}
                    pieces.append(music)
                    bar.update(music.shape[1])
            return np.concatenate(pieces, axis=1)
