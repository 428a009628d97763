"""Hessian-free optimization (Martens 2010; for RNNs, Martens & Sutskever 2011): the pieces that
do not depend on the model.

Each HF update minimises a damped quadratic model of the objective f around the parameters,

    q(d) = g.d + d.(G + lam I + mu lam S) d / 2,

by preconditioned conjugate gradient (CG), where g is the gradient, G the Gauss-Newton matrix
J^T H J of the network's outputs z (H the Hessian of the loss in z, diagonal and positive for
a sum of Bernoulli cross-entropies), and S = J_s^T J_s the structural damping of the recurrent
states s (a step that moves the states much is costed more). G d, J d and the like are never
formed as matrices: jvp gives J d by the R-operator (Pearlmutter 1994) as two reverse passes,
and J^T w is one more.

The graph pieces (jvp, gauss_newton_product) build TF1 tensors; the rest works on flat NumPy
vectors, with the model's products passed in as functions, so it can be tested on a quadratic.
"""
import collections
import math

import numpy as np

from tf1 import tf

# Martens (2010): CG stops when its quadratic has improved by less than PROGRESS_EPS per iteration,
# relative, over the last max(MIN_WINDOW, WINDOW_SHARE * i) iterations; iterates are kept at
# iterations ceil(KEEP_RATIO^j) for backtracking; the next CG starts at WARM_START times the
# last step; lam shrinks by DROP where the quadratic predicted the change well (rho > 3/4) and
# grows by BOOST where badly (rho < 1/4); the preconditioner is (diag F + lam)^PRECONDITIONER_POWER.
PROGRESS_EPS, MIN_WINDOW, WINDOW_SHARE = 5e-4, 10, 0.1
KEEP_RATIO = 1.3
WARM_START = 0.95
DROP, BOOST = 2.0 / 3.0, 1.5
PRECONDITIONER_POWER = 0.75
ARMIJO, SHRINK, MOST_SHRINKS = 1e-2, 0.8, 30


def jvp(ys, xs, directions):
    """J d: the derivative of tensor `ys` along `directions` of the tensors `xs` (forward mode, the
    R-operator), by differentiating the linear map u -> J^T u once more. No path from xs to ys
    may cross a tf.while_loop boundary (its second derivative is not supported): take xs inside
    the loop body where ys is computed in one."""
    u = tf.zeros_like(ys)
    transposed = tf.gradients(ys, xs, grad_ys=u)
    pairs = [(g, d) for g, d in zip(transposed, directions) if g is not None]
    if not pairs:
        return tf.zeros_like(ys)
    return tf.gradients([g for g, _ in pairs], u, grad_ys=[d for _, d in pairs])[0]


def transpose_product(ys, params, weights):
    """J^T w for the Jacobian J of `ys` in `params`: one reverse pass, zeros where ys does not depend on one."""
    grads = tf.gradients(ys, params, grad_ys=weights)
    return [tf.zeros_like(p) if g is None else g for g, p in zip(grads, params)]


def flat(tensors):
    """One vector of every tensor's entries."""
    return tf.concat([tf.reshape(t, [-1]) for t in tensors], 0)


def unflat(vector, like):
    """`vector` cut into tensors shaped as `like`."""
    sizes = [int(np.prod(t.shape.as_list())) for t in like]
    return [tf.reshape(part, t.shape) for part, t in zip(tf.split(vector, sizes), like)]


CgResult = collections.namedtuple("CgResult", [
    "iterates",     # [(iteration, x)]: the iterates kept for backtracking, the last one included
    "iterations",   # CG iterations run
    "residual",     # ||b - A x|| / ||b|| at the end
    "reason",       # why it stopped: 'tolerance', 'progress' or 'iterations'
])


def conjugate_gradient(product, b, x0, preconditioner=None, max_iters=100, tol=1e-6, progress=True):
    """Minimise q(x) = x.A x / 2 - b.x for a symmetric positive (semi-)definite A given by
    `product` (x -> A x), from x0, by CG preconditioned with the diagonal `preconditioner` (M:
    the iteration solves with M^-1 A). Stops at `max_iters`, at relative residual `tol`, or (with
    `progress`) when q has stopped improving as Martens (2010) prescribes."""
    M = np.ones_like(b) if preconditioner is None else preconditioner
    x = x0.astype(np.float64)
    r = b - product(x)
    y = r / M
    p = y.copy()
    ry = r @ y
    norm_b = max(np.linalg.norm(b), 1e-30)
    values, kept = [-0.5 * x @ (b + r)], []
    keep_at = {math.ceil(KEEP_RATIO ** j) for j in range(200)}
    reason, i = "iterations", 0
    for i in range(1, max_iters + 1):
        if np.linalg.norm(r) <= tol * norm_b:
            reason, i = "tolerance", i - 1
            break
        Ap = product(p)
        curvature = p @ Ap
        if curvature <= 0:                                  # A is not positive along p: stop where we are
            reason, i = "curvature", i - 1
            break
        alpha = ry / curvature
        x = x + alpha * p
        r = r - alpha * Ap
        y = r / M
        ry, ry_old = r @ y, ry
        p = y + (ry / ry_old) * p
        values.append(-0.5 * x @ (b + r))                    # q(x), since A x = b - r
        if i in keep_at:
            kept.append((i, x.copy()))
        window = max(MIN_WINDOW, int(WINDOW_SHARE * i))
        if progress and i > window and values[-1] < 0 and (values[-1] - values[-1 - window]) / values[-1] < window * PROGRESS_EPS:
            reason = "progress"
            break
    if not kept or kept[-1][0] != i:
        kept.append((i, x.copy()))
    return CgResult(iterates=kept, iterations=i, residual=float(np.linalg.norm(r) / norm_b), reason=reason)


def backtrack(iterates, objective):
    """(iteration, x, f(x)) of the CG iterate to take (Martens 2010): from the last kept iterate,
    step back to earlier ones while the objective `objective` (x -> f(theta + x)) improves."""
    i, x = iterates[-1]
    best = objective(x)
    for j, earlier in reversed(iterates[:-1]):
        value = objective(earlier)
        if value >= best:
            break
        i, x, best = j, earlier, value
    return i, x, best


def reduction_ratio(f_new, f_old, model_change):
    """rho: the objective's change over the change the quadratic model predicted (negative for a
    step the model says descends). A step the model thought useless gives -inf (rho < 1/4)."""
    if model_change >= 0:
        return -math.inf
    return (f_new - f_old) / model_change


def damping_update(lam, rho):
    """Levenberg-Marquardt: lam times DROP where the model predicted the change well (rho > 3/4),
    times BOOST where it did not (rho < 1/4), else unchanged."""
    if rho > 0.75:
        return lam * DROP
    if rho < 0.25:
        return lam * BOOST
    return lam


def line_search(objective, f0, slope, x):
    """(rate, f): the largest SHRINK^j along x for which f(theta + rate x) <= f0 + ARMIJO rate slope
    (slope = g.x < 0); (0, f0) if none of MOST_SHRINKS is."""
    rate = 1.0
    for _ in range(MOST_SHRINKS):
        value = objective(rate * x)
        if value <= f0 + ARMIJO * rate * slope:
            return rate, value
        rate *= SHRINK
    return 0.0, f0


def preconditioner(fisher_diagonal, lam):
    """Martens' (2010) diagonal preconditioner, (diag F + lam)^PRECONDITIONER_POWER."""
    return (fisher_diagonal + lam) ** PRECONDITIONER_POWER
