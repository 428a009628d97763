"""Sharpen (or flatten) a trained model: every frame's distribution at inverse temperature alpha.

    python sharpen_checkpoint.py <checkpoint> <out.ckpt> --alpha 1.2 [--k-generate 100] [--best-of 4] [--voices 4]

The RBM that follows state u_{t-1} has the energy E(v, h) = -bv_t.v - bh_t.h - v.W.h, with
bv_t = bv + u_{t-1}.Wuv and bh_t = bh + u_{t-1}.Wuh. Multiplying W, bv, bh, Wuv and Wuh by
alpha multiplies every frame's energy by alpha: alpha > 1 concentrates each p(v_t | v_<t) on
its likeliest frames, alpha < 1 spreads it out. The RNN (Wvu, Wuu, bu, u0) is not touched,
so the output is a model of the same kind and shape that every script takes, and its hparams.json
records the alpha it carries (alphas of repeated sharpening multiply). An rnn model (independent
Bernoulli units, bv and Wuv) sharpens the same way.

An RNN-NADE draws a frame unit by unit, p(v_i = 1 | v_<i) = sigmoid(bv_t,i + V[:, i] . h_i) with
bv_t = bv + u_{t-1}.Wuv, and h_i = sigmoid(bh_t + sum_{j<i} v_j W[j]) not changed. Multiplying V,
bv and Wuv by alpha multiplies every unit's logit by alpha: each of those conditionals is at
inverse temperature alpha, as in sampling from any autoregressive model. The frame's joint
distribution is then not p^alpha / Z, but it is sharper the same way.

An RNN-DBN's every layer scales the same way (W, W2, .., bv, bh, Wuv, Wuh): its top RBM is at
inverse temperature alpha, and each directed layer's conditionals are, as the NADE's units.

A sharper model trades log-likelihood for expected accuracy; choose alpha on the valid split
with rnn_rbm_evaluate.py, or for music with music_stats.py (docs/music.md). Sharper
conditionals need more AIS temperatures, so check that the LL has stopped falling (e.g.
--chains 20 --betas 4000 against --betas 1000). --k-generate stores how many Gibbs steps per
row rnn_rbm_generate.py takes from the written checkpoint by default: a sharper RBM mixes more
slowly, so its samples gain from more. --best-of stores how many candidates of each row it draws
by default, keeping the likeliest: a lower temperature over whole frames (rnn_rbm.best_of_sample);
--voices, how many notes each 16th of the kept candidate should sound, where one of them does.
"""
import logging
import sys

import checkpoints
import cli
import rnn_rbm
from tf1 import tf

log = logging.getLogger(__name__)

# Every term of each frame's RBM energy; of an RNN-NADE, every term of each unit's logit.
SCALED = {"rnn-rbm": ("W", "bv", "bh", "Wuv", "Wuh"), "rnn": ("bv", "Wuv"), "rnn-nade": ("V", "bv", "Wuv"),
          "rnn-dbn": ("W", "W_dbn", "bv", "bh", "Wuv", "Wuh")}



def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("checkpoint", help="a checkpoint written by this project's scripts")
    parser.add_argument("out", help="the sharpened checkpoint to write, e.g. parameter_checkpoints/sharp.ckpt")
    parser.add_argument("--alpha", type=float, required=True,
                        help="inverse temperature: > 1 sharper, < 1 flatter, 1 a copy")
    parser.add_argument("--k-generate", type=int, default=None,
                        help="Gibbs steps per generated row, stored as the written checkpoint's default (default: the input's)")
    parser.add_argument("--best-of", type=int, default=None,
                        help="candidates per generated row, the likeliest kept, stored as the written checkpoint's "
                             "default (default: the input's)")
    parser.add_argument("--voices", type=int, default=None,
                        help="notes each 16th of the kept candidate should sound, stored as the written checkpoint's "
                             "default (0: any; default: the input's)")
    return parser


def sharpen(checkpoint, out, alpha, k_generate=None, best_of=None, voices=None):
    """Write `out`: `checkpoint` with SCALED[its model] multiplied by `alpha` (and `k_generate`
    Gibbs steps per generated row, `best_of` candidates of it and their `voices`, if given)."""
    if not alpha > 0:
        raise ValueError(f"--alpha {alpha} is not a positive number; use e.g. 1.2 to sharpen or 0.8 to flatten")
    if k_generate is not None and k_generate < 1:
        raise ValueError(f"--k-generate {k_generate}: give at least 1 Gibbs step per row")
    if best_of is not None and best_of < 1:
        raise ValueError(f"--best-of {best_of}: give at least 1 candidate per row (1: plain sampling)")
    checkpoints.check_exists(checkpoint, "pass a checkpoint written by rnn_rbm_train.py")
    model = checkpoints.load_hparams(checkpoint)[0].model
    if model not in SCALED and alpha != 1:
        raise ValueError(f"{checkpoint} is an {model}, whose RBM weights W are also its recurrence's: scaling them "
                         "would change the state it generates from, not only its temperature. Use --best-of to "
                         "lower the temperature of its rows instead (with --alpha 1)")
    if checkpoints.resolve(out) == checkpoint:
        raise ValueError(f"{out} is the input checkpoint; give the sharpened one a new name")
    if checkpoints.exists(out):
        raise ValueError(f"{out} exists already; remove it or choose another name")
    hp, run = checkpoints.load_hparams(checkpoint)
    with tf.Graph().as_default():
        params = rnn_rbm.create_params(hp)
        saver = checkpoints.make_saver(params)
        with tf.Session() as sess:
            checkpoints.restore(sess, saver, checkpoint)
            sess.run([var.assign(var * alpha) for var in rnn_rbm.field_variables(params, SCALED.get(hp.model, ()))])
            run.update(alpha=round(run.get("alpha", 1.0) * alpha, 12), sharpened_from=checkpoint)   # 1.5 * 1.2: 1.8
            hp = hp.replace(**{name: value for name, value in (("k_generate", k_generate), ("best_of", best_of),
                                                                ("voices", voices)) if value is not None}).validate()
            checkpoints.save(sess, saver, out, hp, **run)
    draws = f"the likeliest of {hp.best_of} draws" if hp.best_of > 1 else "one draw"
    if hp.voices and hp.best_of > 1:
        draws += f" (of those that sound {hp.voices} notes in the most 16ths)"
    chains = f" of {hp.k_generate} Gibbs steps" if not rnn_rbm.exact(hp) else ""
    log.info("wrote %s: %s at alpha %g; rnn_rbm_generate.py takes %s%s per row", out, checkpoint, run["alpha"],
             draws, chains)
    return out


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    sharpen(checkpoints.resolve(args.checkpoint), args.out, args.alpha, args.k_generate, args.best_of, args.voices)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
