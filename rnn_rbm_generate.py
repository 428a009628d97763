"""Generate MIDI songs from a trained RNN-RBM checkpoint.

    python rnn_rbm_generate.py parameter_checkpoints/pretrained.ckpt [--num-songs 3] [--length 300]

The graph is rebuilt from the checkpoint's hparams.json, so the checkpoint path is all it
needs. Songs go to music_outputs/<n>_<primer or 'unprimed'>.mid; existing files are kept.
"""
import logging
import os
import time

import numpy as np

import checkpoints
import cli
import config
import midi_manipulation

log = logging.getLogger(__name__)

# Hyper-parameters that only change how songs are sampled or written, so they may differ
# from the checkpoint's.
GENERATION_KEYS = ("k_generate", "tickscale", "velocity", "bpm")


def parse_args(argv):
    parser = cli.make_parser(__doc__)
    parser.add_argument("checkpoint", help="a checkpoint written by training, e.g. parameter_checkpoints/epoch_100.ckpt")
    parser.add_argument("--num-songs", type=int, default=3, help="songs to generate, side by side")
    parser.add_argument("--length", type=int, default=300,
                        help="RBM steps per song (one step is steps_per_rbm 16th notes)")
    parser.add_argument("--primer", default=None, help="a MIDI file whose opening warms up the RNN state")
    parser.add_argument("--prime-steps", type=int, default=100, help="RBM steps of the primer to use")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed; the same seed and checkpoint give identical files (default: random)")
    parser.add_argument("--out", default="music_outputs", help="folder for the generated MIDI files")
    for key in GENERATION_KEYS:
        parser.add_argument("--" + key.replace("_", "-"), dest=key, type=type(getattr(config.HParams, key)),
                            default=None, help="default: the checkpoint's value")
    args = parser.parse_args(argv)
    for name in ("num_songs", "length", "prime_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def free_path(folder, n, label):
    """The first `<k>_<label>.mid` in `folder`, k >= n, that does not exist yet."""
    while os.path.exists(os.path.join(folder, f"{n}_{label}.mid")):
        n += 1
    return os.path.join(folder, f"{n}_{label}.mid"), n


def primer_rows(path, hp, prime_steps):
    """The first `prime_steps` RBM rows of a MIDI file: [rows, n_visible]."""
    roll = midi_manipulation.midi_to_piano_roll(path, hp.lowest_note, hp.highest_note, hp.articulation,
                                                hp.max_song_steps)
    rows = midi_manipulation.piano_roll_to_rows(roll, hp.steps_per_rbm)[:prime_steps]
    if len(rows) == 0:
        raise ValueError(f"primer {path} is shorter than one RBM step ({hp.steps_per_rbm} 16th notes); "
                         "use a longer primer")
    return rows.astype(np.float32)


def generate(checkpoint, hp, num_songs, length, primer=None, seed=0):
    """Sample `num_songs` songs of `length` RBM rows: [num_songs, length, n_visible] of 0/1."""
    tf = cli.import_tf()
    import rnn_rbm
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(seed)
        gen = rnn_rbm.build_generation_graph(hp)
        saver = checkpoints.make_saver(gen.params)
        with tf.Session(graph=graph) as sess:
            saver.restore(sess, checkpoint)
            feed = {gen.n_songs: num_songs, gen.n_steps: length}
            if primer is not None:
                feed[gen.primer] = primer
            return sess.run(gen.music, feed)


def main(argv=None):
    args = parse_args(argv)
    cli.setup_logging(args)
    start = time.time()
    checkpoints.check_exists(args.checkpoint, "pass a checkpoint written by rnn_rbm_train.py, "
                                              "e.g. parameter_checkpoints/pretrained.ckpt")
    hp, _ = config.load_hparams(args.checkpoint)
    hp = hp.replace(**{key: getattr(args, key) for key in GENERATION_KEYS if getattr(args, key) is not None})
    hp.validate()
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**31)

    primer, label = None, "unprimed"
    if args.primer:
        try:
            primer = primer_rows(args.primer, hp, args.prime_steps)
        except midi_manipulation.MidiError as e:
            raise ValueError(f"--primer: {e}; pass a readable MIDI file") from None
        label = os.path.splitext(os.path.basename(args.primer))[0]

    music = generate(args.checkpoint, hp, args.num_songs, args.length, primer, seed)
    os.makedirs(args.out, exist_ok=True)
    written, n = [], 1
    for song in music:
        path, n = free_path(args.out, n, label)
        roll = midi_manipulation.rows_to_piano_roll(song, hp.frame_size)
        midi_manipulation.piano_roll_to_midi(roll, path, hp.lowest_note, hp.articulation, hp.tickscale,
                                             hp.velocity, hp.bpm)
        written.append(path)
    log.info("wrote %d songs of %d steps (seed %d) in %.1f s: %s", len(written), args.length * hp.steps_per_rbm,
             seed, time.time() - start, ", ".join(written))
    return written


if __name__ == "__main__":
    cli.run(main)
