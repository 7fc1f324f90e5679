"""A small multinomial logistic regression trained at build time, in numpy only.

It learns which words tell articles apart (the similarity scores only know how rare a
word is). To stay cheap on large knowledge bases, each training phrasing is contrasted
with its own article and the ``negatives`` most similar other articles only (a softmax
over hard negatives), and the loss is minimised with L-BFGS. Cost per iteration is
proportional to (non-zeros x candidates), not (phrasings x articles).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def train(
    rows: IntArray,
    feats: IntArray,
    vals: FloatArray,
    labels: IntArray,
    n_feats: int,
    n_classes: int,
    candidates: IntArray,
    l2: float = 1.0 / 30.0,
    max_iter: int = 60,
) -> FloatArray:
    """Weights (n_feats, n_classes) for the sparse examples ``(rows, feats, vals)``.

    ``candidates[i]`` lists the classes example ``i`` is contrasted with; its first column
    must be the example's own class ``labels[i]``.
    """
    n_rows, m = candidates.shape
    if n_rows == 0 or n_feats == 0 or n_classes < 2:
        return np.zeros((n_feats, n_classes))
    # flat index into W for every (non-zero, candidate) pair, and into S for its score
    w_idx = (feats[:, None] * n_classes + candidates[rows]).ravel()
    s_idx = (rows[:, None] * m + np.arange(m)[None, :]).ravel()
    v_rep = np.repeat(vals, m)
    size = n_feats * n_classes

    def loss_grad(w: FloatArray) -> tuple[float, FloatArray]:
        s = np.bincount(s_idx, weights=w[w_idx] * v_rep, minlength=n_rows * m).reshape(n_rows, m)
        s -= s.max(axis=1, keepdims=True)
        e = np.exp(s)
        z = e.sum(axis=1)
        loss = float(np.log(z).sum() - s[:, 0].sum()) + 0.5 * l2 * float(w @ w)
        r = e / z[:, None]
        r[:, 0] -= 1.0
        g = np.bincount(w_idx, weights=r.ravel()[s_idx] * v_rep, minlength=size)
        return loss, g + l2 * w

    return _lbfgs(loss_grad, np.zeros(size), max_iter).reshape(n_feats, n_classes)


def _lbfgs(
    fg: Callable[[FloatArray], tuple[float, FloatArray]],
    x: FloatArray,
    max_iter: int,
    memory: int = 10,
    tol: float = 1e-5,
) -> FloatArray:
    f, g = fg(x)
    hist: list[tuple[FloatArray, FloatArray, float]] = []
    for _ in range(max_iter):
        q = g.copy()
        alphas = []
        for s, y, rho in reversed(hist):
            a = rho * float(s @ q)
            alphas.append(a)
            q -= a * y
        if hist:
            s, y, _rho = hist[-1]
            q *= float(s @ y) / float(y @ y)
        for (s, y, rho), a in zip(hist, reversed(alphas), strict=True):
            q += (a - rho * float(y @ q)) * s
        d = -q
        gd = float(g @ d)
        if gd >= 0:  # not a descent direction: restart from the gradient
            d, gd, hist = -g, -float(g @ g), []
        step = 1.0 if hist else 1.0 / max(np.sqrt(float(g @ g)), 1e-12)
        while True:
            x_new = x + step * d
            f_new, g_new = fg(x_new)
            if f_new <= f + 1e-4 * step * gd or step < 1e-10:
                break
            step *= 0.5
        s_vec, y_vec = x_new - x, g_new - g
        sy = float(s_vec @ y_vec)
        if sy > 1e-12:
            hist.append((s_vec, y_vec, 1.0 / sy))
            if len(hist) > memory:
                hist.pop(0)
        done = abs(f - f_new) <= tol * max(1.0, abs(f))
        x, f, g = x_new, f_new, g_new
        if done:
            break
    return x
