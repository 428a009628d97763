"""Hyper-parameters of the RNN-RBM, in one block, and their command-line and JSON forms.

Every field below can be overridden on the command line of the entry scripts that use it
(``--n-hidden 100``). A checkpoint carries the values it was trained with in
``<checkpoint>.hparams.json`` (checkpoints.py), so generation needs nothing but the checkpoint path.
"""
import argparse
import dataclasses

import midi_manipulation


PRETRAIN, TRAIN, GENERATE = "pretrain", "train", "generate"   # the scripts that offer a field as an option
MODELS = ("rnn-rbm", "rnn-nade", "rnn", "rtrbm", "rnn-dbn")   # --model: the frame distributions of rnn_rbm.CONDITIONALS


def _field(scripts, default, help):
    """A hyper-parameter: the scripts that offer it on their command line (weight_initializations.py:
    'pretrain', rnn_rbm_train.py: 'train', rnn_rbm_generate.py: 'generate'), its default and its help."""
    return dataclasses.field(default=default, metadata={"help": help, "scripts": scripts})


@dataclasses.dataclass
class HParams:
    # piano roll
    lowest_note: int = _field((PRETRAIN,), 24, "MIDI number of the lowest key kept (C1)")
    highest_note: int = _field((PRETRAIN,), 101, "MIDI number of the highest key kept, inclusive (F7): 78 keys")
    articulation: bool = _field((PRETRAIN,), True, "add an 'articulate' bit per key beside the 'play' bit")
    steps_per_rbm: int = _field((PRETRAIN,), 5, "16th-note steps stacked into one RBM visible vector")
    max_song_steps: int = _field((PRETRAIN, TRAIN, GENERATE), 100_000, "16th-note steps kept per song (about 3.5 h at 120 bpm); longer songs are cut")
    # model
    model: str = _field((PRETRAIN,), "rnn-rbm", "the distribution of each frame given the RNN: 'rnn-rbm' (an RBM, "
                        "the post's), 'rnn-nade' (a NADE, the paper's RNN-NADE: exact likelihood) or 'rnn' "
                        "(independent Bernoulli units, the paper's RNN) or 'rtrbm' (the RTRBM: the RBM's hidden units are the "
                        "recurrent state, with no RNN of their own) or 'rnn-dbn' (a DBN, --dbn-layers; with --cell lstm "
                        "the DBN-LSTM)")
    n_hidden: int = _field((PRETRAIN,), 50, "hidden units of the RBM or NADE")
    dbn_layers: str = _field((PRETRAIN,), "", "hidden layer sizes of --model rnn-dbn, lowest first, e.g. 150,150 "
                             "(the first is n_hidden; '': two layers of n_hidden)")
    n_hidden_recurrent: int = _field((PRETRAIN,), 100, "RNN hidden units (the RTRBM has none: its state is its n_hidden)")
    cell: str = _field((PRETRAIN,), "rnn", "the recurrence u_t: 'rnn' (the paper's tanh RNN), 'lstm' or 'gru'")
    init_std_W: float = _field((PRETRAIN,), 0.01, "stddev of the initial RBM weights W")
    init_std_rnn: float = _field((PRETRAIN,), 0.0001, "stddev of the initial RNN weights Wuh, Wuv, Wvu, Wuu")
    bv_from_data: bool = _field((PRETRAIN,), True, "start bv at the log-odds of each unit's frequency in the data (Hinton 2010)")
    bv_min_prob: float = _field((PRETRAIN,), 0.001, "those frequencies are clipped to [bv_min_prob, 1 - bv_min_prob]")
    # RBM pretraining (weight_initializations.py)
    pretrain_epochs: int = _field((PRETRAIN,), 100, "passes over all rows, training the RBM (CD-k) or NADE (exact "
                                  "gradient) alone")
    pretrain_k: int = _field((PRETRAIN,), 1, "Gibbs steps of CD-k")
    pretrain_lr: float = _field((PRETRAIN,), 0.01, "SGD learning rate")
    pretrain_batch: int = _field((PRETRAIN,), 100, "RBM rows per update")
    rnn_pretrain_epochs: int = _field((PRETRAIN,), 0, "then epochs of training the RNN alone with independent Bernoulli outputs, "
                                         "with the training block's optimizer, lr, lanes and chunks (0: off)")
    # RNN-RBM training (rnn_rbm_train.py)
    epochs: int = _field((TRAIN,), 200, "training epochs")
    k_train: int = _field((TRAIN,), 15, "Gibbs steps for the negative sample v_t*")
    optimizer: str = _field((PRETRAIN, TRAIN), "sgd", "'sgd' (the original's), 'adam', or 'hf' (Hessian-free, training "
                            "only, for the models with an exact likelihood: rnn-nade, rnn; each epoch is one HF update, "
                            "and --lr is not used)")
    hf_batch_songs: int = _field((TRAIN,), 0, "with --optimizer hf, songs of each update's gradient (0: every song)")
    hf_curvature_share: float = _field((TRAIN,), 0.25, "with --optimizer hf, the share of those songs in the "
                                       "Gauss-Newton products, the backtracking and the line search")
    hf_cg_iters: int = _field((TRAIN,), 100, "with --optimizer hf, CG iterations per update, at most")
    hf_damping: float = _field((TRAIN,), 0.01, "with --optimizer hf, the first Levenberg-Marquardt damping lam (it adapts)")
    hf_structural: float = _field((TRAIN,), 1.0 / 30.0, "with --optimizer hf, mu: structural damping of the recurrent "
                                  "state weighs mu lam (Martens & Sutskever 2011)")
    lr: float = _field((PRETRAIN, TRAIN), 0.01, "learning rate")
    lr_decay: float = _field((PRETRAIN, TRAIN), 0.0, "lr at epoch e (1-based) is lr / (1 + lr_decay * (e - 1))")
    weight_decay: float = _field((TRAIN,), 0.0, "L2 penalty weight_decay * sum(w**2) / 2 over W, Wuh, Wuv, Wvu, Wuu, added to "
                                      "the cost that is minimised (the logged cost leaves it out)")
    negative_swap: float = _field((TRAIN,), 0.0, "fraction of training rows whose negative Gibbs chain starts at another row "
                                       "of the batch, drawn at random, instead of at the row itself (0: CD-k as in "
                                       "the paper); raises ACC at a large cost in LL, see the README")
    grad_clip: float = _field((PRETRAIN, TRAIN), 10.0, "every gradient is clipped to [-grad_clip, grad_clip]")
    chunk_len: int = _field((PRETRAIN, TRAIN), 100, "RBM rows per truncated-BPTT chunk; the RNN state carries across chunks")
    transpose: int = _field((PRETRAIN, TRAIN), 0, "augmentation: each epoch moves every training song by a random whole number of "
                                "semitones in [-transpose, transpose] that keeps its notes on the keys (0: off)")
    batch_songs: int = _field((PRETRAIN, TRAIN), 1, "lanes of songs laid end to end, trained side by side: one update per chunk of every lane")
    save_every: int = _field((TRAIN,), 5, "write parameter_checkpoints/epoch_<n>.ckpt every this many epochs")
    # generation (rnn_rbm_generate.py)
    k_generate: int = _field((GENERATE,), 25, "Gibbs steps per generated RBM row")
    k_from_silence: int = _field((GENERATE,), 1000, "Gibbs steps for a generated row whose chain starts from a silent "
                                 "row (the first row without a primer): k_generate steps seldom leave silence, and "
                                 "the songs then stay silent or sparse (docs/music.md)")
    best_of: int = _field((GENERATE,), 1, "draw this many candidates of each generated row and keep the one the "
                          "model finds likeliest: a lower temperature over whole frames (1: plain sampling)")
    voices: int = _field((GENERATE,), 0, "with best_of, keep the likeliest of the candidates whose every 16th note "
                         "sounds this many notes, or where none does, of those with the fewest 16ths that do not "
                         "(0: any count; the default chorales sound 4)")
    particles: int = _field((GENERATE,), 32, "with --harmonize, an RNN-NADE draws this many candidates of each row with "
                            "the melody's units set, and keeps one with probability in proportion to the probability "
                            "of those units (sequential importance resampling; more: nearer the exact conditional)")
    tickscale: int = _field((GENERATE,), 55, "MIDI ticks per 16th-note step in written files (220 per beat)")
    velocity: int = _field((GENERATE,), 40, "MIDI velocity of written notes")
    bpm: float = _field((GENERATE,), 120.0, "tempo written into generated MIDI files")
    # reproducibility
    seed: int = _field((PRETRAIN, TRAIN), 0, "seed of NumPy and TensorFlow for pretraining and training")

    @property
    def hidden_layers(self):
        """The DBN's hidden layer sizes, lowest first: dbn_layers, or two layers of n_hidden."""
        return parse_layers(self.dbn_layers) if self.dbn_layers else (self.n_hidden, self.n_hidden)

    @property
    def n_notes(self):
        return self.highest_note - self.lowest_note + 1

    @property
    def frame_size(self):
        """Units per 16th-note step: play bits, then articulate bits."""
        return midi_manipulation.frame_size(self.lowest_note, self.highest_note, self.articulation)

    @property
    def n_visible(self):
        return self.frame_size * self.steps_per_rbm

    def validate(self):
        if not 0 <= self.lowest_note <= self.highest_note <= 127:
            raise ValueError(f"note range {self.lowest_note}..{self.highest_note} is not inside 0..127 "
                             "with lowest_note <= highest_note; fix --lowest-note / --highest-note")
        positive = ["steps_per_rbm", "n_hidden", "n_hidden_recurrent", "pretrain_k", "pretrain_batch",
                    "k_train", "chunk_len", "batch_songs", "save_every", "k_generate", "k_from_silence", "best_of", "particles", "tickscale",
                    "max_song_steps"]
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ["pretrain_epochs", "rnn_pretrain_epochs", "epochs", "transpose", "weight_decay", "voices",
                     "hf_batch_songs", "hf_cg_iters"]:
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be 0 or more, got {getattr(self, name)}")
        if not 0.0 <= self.negative_swap <= 1.0:
            raise ValueError(f"--negative-swap must be between 0 and 1, got {self.negative_swap}")
        if self.model not in MODELS:
            raise ValueError(f"--model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.model == "rnn" and self.rnn_pretrain_epochs:
            raise ValueError("--model rnn is the RNN that --rnn-pretrain-epochs pretrains: set it to 0 and train "
                             "the model with rnn_rbm_train.py")
        if self.model == "rtrbm" and (self.cell != "rnn" or self.rnn_pretrain_epochs):
            raise ValueError("--model rtrbm: its recurrent state is its RBM's hidden units, so it has no --cell "
                             "(leave it rnn) and no RNN to pretrain (leave --rnn-pretrain-epochs 0)")
        if self.dbn_layers and self.model != "rnn-dbn":
            raise ValueError(f"--dbn-layers is for --model rnn-dbn, not {self.model}; leave it out or add --model rnn-dbn")
        if self.model == "rnn-dbn" and self.hidden_layers[0] != self.n_hidden:
            raise ValueError(f"--dbn-layers {self.dbn_layers} starts at {self.hidden_layers[0]} hidden units but "
                             f"--n-hidden is {self.n_hidden}: the first layer is the RBM's hidden layer; give both alike")
        if self.cell not in ("rnn", "lstm", "gru"):
            raise ValueError(f"--cell must be rnn, lstm or gru, got {self.cell!r}")
        if self.optimizer not in ("sgd", "adam", "hf"):
            raise ValueError(f"--optimizer must be sgd, adam or hf, got {self.optimizer!r}")
        if self.optimizer == "hf" and self.model not in ("rnn-nade", "rnn"):
            raise ValueError(f"--optimizer hf needs a model with an exact objective (rnn-nade, rnn); a {self.model} "
                             "learns by contrastive divergence, which has no objective to take a second derivative of. "
                             "Use --optimizer adam or sgd")
        if self.optimizer == "hf" and self.weight_decay:
            raise ValueError("--weight-decay is not part of the Hessian-free objective yet; leave it 0 with --optimizer hf")
        if self.optimizer == "hf" and self.rnn_pretrain_epochs:
            raise ValueError("--optimizer hf is for rnn_rbm_train.py; pretrain the RNN (--rnn-pretrain-epochs) with "
                             "--optimizer adam or sgd, then train with --optimizer hf")
        if not 0.0 < self.hf_curvature_share <= 1.0 or self.hf_damping <= 0 or self.hf_structural < 0:
            raise ValueError("--hf-curvature-share must be in (0, 1], --hf-damping above 0 and --hf-structural 0 or more")
        if not 0.0 < self.bv_min_prob < 0.5:
            raise ValueError(f"--bv-min-prob must be between 0 and 0.5, got {self.bv_min_prob}")
        if self.voices > self.n_notes:
            raise ValueError(f"--voices {self.voices} is more than the {self.n_notes} keys; give at most that, or 0")
        if not 1 <= self.velocity <= 127:
            raise ValueError(f"--velocity must be in 1..127, got {self.velocity}")
        return self

    def replace(self, **changes):
        """A copy with `changes`; --dbn-layers given without --n-hidden sets n_hidden to its first layer."""
        if changes.get("dbn_layers") and "n_hidden" not in changes:
            changes["n_hidden"] = parse_layers(changes["dbn_layers"])[0]
        return dataclasses.replace(self, **changes)


def parse_layers(text):
    """The hidden layer sizes in `text` ('150,150'); a ValueError that says how to write them."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"--dbn-layers {text!r}: give two or more hidden layer sizes separated by commas, "
                         "e.g. 150,150 (the first is the RBM's n_hidden)")
    return sizes


PRESETS = {
    # the original Music_RNN_RBM: 78 keys x {play, articulate}, 5 steps per RBM (the defaults above)
    "original": {},
    # Boulanger-Lewandowski et al. 2012: 88 keys (A0..C8), play bits only, one frame per RBM
    "paper": dict(lowest_note=21, highest_note=108, articulation=False, steps_per_rbm=1, n_hidden=150,
                  n_hidden_recurrent=100, k_train=15, k_generate=25),
}


def preset(name, **changes):
    """HParams of a named preset ('original' or 'paper'), with `changes` applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return HParams(**PRESETS[name]).replace(**changes).validate()


def _parse_bool(text):
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_hparam_arguments(parser, script):
    """Add one ``--name`` option, defaulting to None (= not given), per hyper-parameter that `script`
    ('pretrain', 'train' or 'generate') uses."""
    group = parser.add_argument_group("hyper-parameters (defaults in config.py)")
    for field in dataclasses.fields(HParams):
        if script not in field.metadata["scripts"]:
            continue
        kind = _parse_bool if field.type in (bool, "bool") else type(field.default)
        group.add_argument("--" + field.name.replace("_", "-"), dest=field.name, type=kind, default=None,
                           metavar=field.name.upper(), help=f"{field.metadata['help']} (default {field.default})")


def given_hparams(args):
    """{name: value} of the hyper-parameters given on the command line."""
    return {field.name: getattr(args, field.name) for field in dataclasses.fields(HParams)
            if getattr(args, field.name, None) is not None}


def hparams_from_args(args, base=None):
    """HParams from `base` (or the defaults) with every option the user gave applied."""
    return (base or HParams()).replace(**given_hparams(args)).validate()
