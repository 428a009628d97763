"""Log-likelihood and frame-level accuracy on a benchmark split, as in Boulanger-Lewandowski et al. (2012).

    python rnn_rbm_evaluate.py <checkpoint or run folder> --dataset "../shared/data/benchmarks/JSB Chorales.pickle" [--split test]
    python rnn_rbm_evaluate.py --baseline --dataset "../shared/data/benchmarks/JSB Chorales.pickle"

LL is the mean over every frame of the split of log p(v_t | v_<t), in nats. The first frame
of each song counts too, conditioned on the trained initial state u0. Each frame's RBM
partition function is estimated by annealed importance sampling: --chains chains, --betas
temperatures (spaced as Salakhutdinov & Murray 2008: dense near the frame's RBM), from a
base-rate RBM whose units are on with the frame's marginals, estimated by --base-chains
Gibbs chains of k_generate steps started at the previous true frame (as generation does). The
± figure is the standard error of the mean LL that comes from AIS alone; AIS underestimates
log Z when it has too few temperatures, so raise --betas until the LL stops falling.
--raise adds the reverse estimate (RAISE, Burda, Grosse & Salakhutdinov 2015): chains start at
the true frame and anneal back to the base. It errs low where AIS errs high, so the two
bracket the LL; the gap shows how far from converged both are.

ACC is the expected frame-level accuracy, computed as the paper's authors prescribe: each frame
is predicted from the true frames before it, the accuracy TP / (TP + FP + FN) of Bay et al.
(2009) of a predicted frame is averaged over the model's distribution p(v_t | v_<t), and that
expectation is averaged over every frame (a silent frame predicted silent scores 1). The
predictions are AIS's own samples: each chain's last state, weighted by its importance weight,
so no single Gibbs chain has to move between the distribution's modes. ACC's ± (logged) is
the standard error that these samples leave. The pooled form sum E[TP] / sum E[TP + FP + FN]
over all frames is logged too, and so is the ACC of repeating the previous true frame, a
trivial prediction that scores well where the music often holds.

A model with an exact likelihood (--model rnn-nade or rnn) needs no AIS: its LL is exact, and
its ACC comes from --chains exact draws of each frame given the true frames before it.

An RNN-DBN's LL has no closed form. Its figure is a lower bound (Salakhutdinov & Murray 2008):
the variational bound E_q[log p(v_t, h | v_<t) - log q(h | v_t)] over --bound-samples draws of
q, the DBN's up-pass, less its top RBM's log Z by AIS as above (AIS, which tends to
underestimate log Z, can lift it a little). The importance-weighted bound over the same draws
(Burda et al. 2016), tighter, is logged too. Its ACC predictions are a down-pass from each AIS
chain, weighted as the chain is. The last line ends "(lower bound)".

--baseline evaluates the independent-Bernoulli model instead: one probability per key, the
key's frequency in the train split (add-one smoothed).

Given a folder, every checkpoint in it is evaluated and the best LL is reported (model
selection: use it on the valid split). The last line printed is
`<dataset> <split>: LL/frame -X.XXX ± s.e. nats  ACC YY.YY%`.
"""
import logging
import os
import sys
import time

import checkpoints
import cli
import evaluation

DEFAULTS = evaluation.Settings()

log = logging.getLogger(__name__)


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("checkpoint", nargs="?", default=None,
                        help="a checkpoint, 'latest', or a folder of checkpoints to choose from (not with --baseline)")
    parser.add_argument("--dataset", required=True, help="a benchmark .pickle (the 2012 paper's layout)")
    parser.add_argument("--split", default="test", help="split to evaluate (default: %(default)s)")
    parser.add_argument("--baseline", action="store_true", help="evaluate the independent-Bernoulli baseline instead")
    parser.add_argument("--chains", type=int, default=DEFAULTS.chains,
                        help="AIS chains per frame; with --baseline or an exact model, predictions sampled per frame for ACC "
                             "(default: %(default)s)")
    parser.add_argument("--betas", type=int, default=DEFAULTS.betas, help="AIS temperatures after beta = 0 (default: %(default)s)")
    parser.add_argument("--raise", dest="raise_ll", action="store_true",
                        help="also estimate the LL by reverse AIS (RAISE) with the same chains and temperatures: "
                             "a conservative figure that brackets the LL from below (doubles the run time)")
    parser.add_argument("--bound-samples", type=int, default=DEFAULTS.bound_samples,
                        help="an RNN-DBN's draws of its up-pass per frame for its lower bound (default: %(default)s)")
    parser.add_argument("--base-chains", type=int, default=DEFAULTS.base_chains,
                        help="Gibbs chains per frame for the marginals of the AIS base (default: %(default)s)")
    parser.add_argument("--batch-frames", type=int, default=DEFAULTS.batch_frames, help="frames per AIS run, to bound memory (default: %(default)s)")
    parser.add_argument("--acc-variants", action="store_true",
                        help="also print ACC as public re-implementations compute it: the model's samples or its "
                             "marginals thresholded at 0.5, each averaged over frames or pooled, with repeating the "
                             "previous frame under them (the last line keeps the paper's ACC)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of the random draws (default: %(default)s)")
    parser.add_argument("--max-songs", type=int, default=DEFAULTS.max_songs, help="evaluate only the first this many songs (default: all)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    for name in ("chains", "betas", "base_chains", "batch_frames", "bound_samples"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    most = 16000 if args.raise_ll else 30000
    if args.betas > most:
        raise ValueError(f"--betas must be at most {most}{' with --raise' if args.raise_ll else ''} "
                         "(each batch's random draws are 65536 seeds apart)")
    name, start = evaluation.dataset_name(args.dataset), time.time()
    if args.baseline:
        result = evaluation.evaluate_baseline(args.dataset, args.split, args)
        label = "independent Bernoulli"
    else:
        if not args.checkpoint:
            raise ValueError("pass a checkpoint (or a folder of checkpoints), or --baseline")
        if os.path.isdir(args.checkpoint):
            candidates = checkpoints.run_checkpoints(args.checkpoint) or checkpoints.all_checkpoints(args.checkpoint)
            if not candidates:
                raise ValueError(f"no checkpoint in {args.checkpoint}/")
        else:
            candidates = [checkpoints.resolve(args.checkpoint)]
            checkpoints.check_exists(candidates[0], "pass a checkpoint written by rnn_rbm_train.py")
        results = []
        for path in candidates:
            result = evaluation.evaluate_checkpoint(path, args.dataset, args.split, args)
            results.append((result.ll, path, result))
            if len(candidates) > 1:
                log.info("%s: LL/frame %.3f  ACC %.2f%%", path, result.ll, 100 * result.acc)
        _, label, result = max(results)
        if len(candidates) > 1:
            log.info("best on %s: %s", args.split, label)
    method = (f"exact LL, ACC from {args.chains} samples per frame" if result.exact
              else f"AIS with {args.chains} chains and {args.betas} temperatures"
              + (f" for the top RBM's log Z, {args.bound_samples} draws of the up-pass" if result.lower_bound else ""))
    log.info("%s, %d frames of %s [%s], %.0f s; %s; LL s.e. over frames %.3f; ACC s.e. %.2f%%, pooled ACC %.2f%%; "
             "repeating the previous frame scores ACC %.2f%%", label, result.frames, name, args.split,
             time.time() - start, method, result.ll_frame_se, 100 * result.acc_se, 100 * result.acc_pooled,
             100 * result.acc_repeat)
    if result.raise_ll is not None:
        log.info("conservative LL/frame by reverse AIS (RAISE): %.3f ± %.3f nats; the model's LL lies between it "
                 "and the AIS figure below, when both have enough temperatures", result.raise_ll, result.raise_se)
    if result.weighted_ll is not None:
        log.info("importance-weighted lower bound over the same %d draws per frame: %.3f nats (the variational "
                 "bound below is the figure reported)", args.bound_samples, result.weighted_ll)
    if result.ll > 0:
        log.warning("a log-likelihood above 0 is impossible for binary frames: AIS has not converged and "
                    "underestimates log Z. Raise --chains and --betas; only ACC is meaningful here.")
    if args.acc_variants:
        print(f"ACC variants on {name} {args.split} ({label}): rows are the prediction, columns the average")
        print(f"  {'':28}" + "".join(f"{title:>22}" for title in evaluation.AVERAGES.values()))
        for key, title in evaluation.PREDICTIONS.items():
            print(f"  {title:28}" + "".join(f"{100 * result.acc_variants[key, average]:21.2f}%"
                                             for average in evaluation.AVERAGES))
    print(f"{name} {args.split}: LL/frame {result.ll:.3f} ± {result.ll_se:.3f} nats  ACC {100 * result.acc:.2f}%"
          + (" (lower bound)" if result.lower_bound else ""))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
