import os
import shutil
import subprocess
import sys
import time

import mido
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tf1 import tf  # noqa: E402  (TensorFlow in the project's TF1 mode, started as the scripts start it)

SHARED = os.path.join(os.path.dirname(ROOT), "shared")


def write_midi(path, notes, ticks_per_beat=480, end_tick=None, extra=(), file_type=1):
    """A one-track MIDI file of (pitch, start_tick, end_tick[, channel]) notes plus raw `extra` messages.

    `extra` holds (tick, mido.Message) pairs mixed in at their absolute ticks.
    """
    events = []
    for note in notes:
        pitch, start, end = note[:3]
        channel = note[3] if len(note) > 3 else 0
        events.append((start, 1, mido.Message("note_on", note=pitch, velocity=64, channel=channel)))
        events.append((end, 0, mido.Message("note_off", note=pitch, velocity=0, channel=channel)))
    events += [(tick, 2, msg) for tick, msg in extra]
    events.sort(key=lambda e: (e[0], e[1]))
    track, last = mido.MidiTrack(), 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - last))
        last = tick
    if end_tick is not None:
        track.append(mido.MetaMessage("end_of_track", time=max(0, end_tick - last)))
    mid = mido.MidiFile(type=file_type, ticks_per_beat=ticks_per_beat)
    mid.tracks.append(track)
    mid.save(path)
    return path


@pytest.fixture
def midi_file(tmp_path):
    """Factory: midi_file(notes, name='song.mid', **kwargs) -> path of a fresh MIDI file."""
    def make(notes, name="song.mid", **kwargs):
        return write_midi(str(tmp_path / name), notes, **kwargs)
    return make


# The tiny model every test of the scripts shares: a small RNN-RBM whose RNN weights are large
# enough for a primer to change what it plays, with short chunks so that an epoch has several.
TINY_MODEL = ["--n-hidden", "8", "--n-hidden-recurrent", "6", "--init-std-rnn", "0.5", "--chunk-len", "8"]
TINY_TRAIN = ["--k-train", "2"]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """Two eight-bar songs, pretrained and trained one epoch once for every test that needs a model.

    Returns the folder that holds songs/ (arpeggio.mid and sub/chords.MIDI), cache/ and ckpt/
    (initialized.ckpt, epoch_1.ckpt, training_log.csv). Tests write their own runs beside them."""
    import rnn_rbm_train
    import weight_initializations
    root = tmp_path_factory.mktemp("tiny_run")
    data, ckpt, cache = root / "songs", root / "ckpt", root / "cache"
    (data / "sub").mkdir(parents=True)
    # a C major arpeggio and a chord pattern, 480 ticks per beat
    arpeggio = [(60 + step, 120 * i, 120 * (i + 1)) for i in range(128) for step in [(0, 4, 7, 12)[i % 4]]]
    chords = [(p, 480 * i, 480 * (i + 1)) for i in range(32) for p in ((48, 55, 64) if i % 2 else (53, 57, 60))]
    write_midi(str(data / "arpeggio.mid"), arpeggio)
    write_midi(str(data / "sub" / "chords.MIDI"), chords, ticks_per_beat=96 * 5)
    common = ["--data", str(data), "--checkpoint-dir", str(ckpt), "--cache-dir", str(cache), "--quiet"]
    assert weight_initializations.main(common + TINY_MODEL + ["--pretrain-epochs", "1"]) == 0
    assert rnn_rbm_train.main(["1", *TINY_TRAIN, *common]) == 0
    return root


def run_cli(script, argv, capsys):
    """(exit code, stderr) of an entry script run as its command line runs it, in this process."""
    import cli
    capsys.readouterr()
    try:
        code = cli.run(script.main, argv)
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


def weights(path):
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


@pytest.fixture(scope="module")
def user_copy(tmp_path_factory, tiny_run):
    """A copy of the project (scripts and shipped checkpoints) with tiny songs, where the scripts run
    with their default --checkpoint-dir. The shipped checkpoints are touched to be the newest files
    and record more epochs than any run here: neither may make them the run to resume."""
    copy = tmp_path_factory.mktemp("user")
    for name in os.listdir(ROOT):
        if name.endswith(".py"):
            shutil.copy(os.path.join(ROOT, name), copy / name)
    shutil.copytree(os.path.join(ROOT, "parameter_checkpoints"), copy / "parameter_checkpoints",
                    ignore=lambda folder, names: [n for n in names if not n.startswith(("pretrained.ckpt", "benchmarks",
                                                                                          "jsb_paper", "nottingham_paper"))])
    shutil.copytree(tiny_run / "songs", copy / "songs")
    other = copy / "other_songs"
    other.mkdir()
    write_midi(str(other / "c.mid"), [(50 + (i % 7), 120 * i, 120 * (i + 1)) for i in range(64)])
    return copy


def run_in(folder, *args, timeout=180):
    return subprocess.run([sys.executable, *args], cwd=folder, capture_output=True, text=True, timeout=timeout)


def touch_shipped(copy):
    later = time.time() + 60
    for dirpath, _, names in os.walk(copy / "parameter_checkpoints"):
        for name in names:
            if name.startswith(("pretrained.ckpt", "jsb_paper", "nottingham_paper")):
                os.utime(os.path.join(dirpath, name), (later, later))
