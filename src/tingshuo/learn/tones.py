"""Tone from a syllable's pitch contour, with its neighbours taken into account.

Each syllable's voiced stretch (semitones around the speaker's median) is smoothed and
sampled at five points; with its slope, curvature, where it dips, how it joins the
syllables before and after, and how high it sits against the pitch of the second around it
(declination), these make a feature vector. A small neural network (one hidden layer,
numpy only) gives the probabilities of the five tones; its weights are in
`data/tone_model.json`, fitted by `python -m tingshuo.learn.train_tones` on AISHELL
recordings that are not among the ones the benchmark validates on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from .pitch import PitchTrack

MIN_VOICED_FRAMES = 4  # fewer voiced 10 ms frames than this: the tone cannot be judged
N_POINTS = 5
TONES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Contour:
    points: np.ndarray  # N_POINTS semitone values over the voiced part
    curve: np.ndarray  # the smoothed voiced contour, for drawing
    voiced_start: float
    voiced_end: float


def contour(track: PitchTrack, start: float, end: float) -> Contour | None:
    seg = track.segment(start, end)
    idx = np.flatnonzero(~np.isnan(seg))
    if idx.size < MIN_VOICED_FRAMES:
        return None
    part = seg[idx[0] : idx[-1] + 1]
    x = np.arange(part.size)
    good = ~np.isnan(part)
    part = np.interp(x, x[good], part[good])  # bridge short unvoiced gaps
    if part.size >= 5:
        padded = np.pad(part, 2, mode="edge")
        part = np.median(np.lib.stride_tricks.sliding_window_view(padded, 5), axis=1)
    # the first and last tenth carry the consonant's and the next syllable's perturbation
    pos = np.linspace(0.1, 0.9, N_POINTS) * (part.size - 1)
    points = np.interp(pos, x, part)
    t0 = start + idx[0] * 0.01
    return Contour(points, part, t0, t0 + part.size * 0.01)


def features(
    track: PitchTrack,
    spans: list[tuple[float, float]],
    contours: list[Contour | None],
    expected_tones: list[int],
    i: int,
) -> np.ndarray | None:
    c = contours[i]
    if c is None:
        return None
    p = c.points
    start, end = spans[i]
    prev = contours[i - 1] if i > 0 else None
    nxt = contours[i + 1] if i + 1 < len(contours) else None
    prev_end = prev.points[-1] if prev is not None else p[0]
    next_start = nxt.points[0] if nxt is not None else p[-1]
    around = track.segment(start - 1.0, end + 1.0)
    local = float(np.nanmedian(around)) if np.any(~np.isnan(around)) else 0.0
    rel = p - local
    curve = c.curve
    dip = float(np.argmin(curve)) / max(1, curve.size - 1)
    peak = float(np.argmax(curve)) / max(1, curve.size - 1)
    before = np.eye(6)[expected_tones[i - 1] if i > 0 else 0]
    after = np.eye(6)[expected_tones[i + 1] if i + 1 < len(expected_tones) else 0]
    return np.concatenate(
        [
            p,
            rel,
            [
                p[-1] - p[0],
                p[2] - p[0],
                p[-1] - p[2],
                p[0] + p[-1] - 2 * p[2],
                curve.max() - curve.min(),
                dip,
                peak,
                p[0] - prev_end,
                next_start - p[-1],
                end - start,
                c.voiced_end - c.voiced_start,
                i / max(1, len(spans) - 1),
                float(prev is None),
                float(nxt is None),
            ],
            before[1:],
            after[1:],
        ]
    )


class ToneModel:
    """A one-hidden-layer network: standardised features -> tanh -> softmax over 5 tones."""

    def __init__(self, params: dict) -> None:
        self.mean = np.asarray(params["mean"])
        self.std = np.asarray(params["std"])
        self.w1 = np.asarray(params["w1"])
        self.b1 = np.asarray(params["b1"])
        self.w2 = np.asarray(params["w2"])
        self.b2 = np.asarray(params["b2"])
        # P(expected tone) below which it is flagged: pitch alone; with the recognizer's
        # character agreeing (veto); against it (override: the pitch must be this sure)
        self.threshold = float(params["threshold"])
        self.veto = float(params.get("veto", 0.0))
        self.override = float(params.get("override", 1.0))

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        x = (np.atleast_2d(x) - self.mean) / self.std
        h = np.tanh(x @ self.w1 + self.b1)
        z = h @ self.w2 + self.b2
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)


@lru_cache(maxsize=1)
def load_tone_model() -> ToneModel:
    text = resources.files("tingshuo.learn").joinpath("data/tone_model.json").read_text()
    return ToneModel(json.loads(text))


def fit(
    x: np.ndarray, y: np.ndarray, hidden: int = 24, l2: float = 1e-3, epochs: int = 3000, seed=0
) -> dict:
    """Fit the network by full-batch Adam on cross-entropy (y: tones 1..5)."""
    rng = np.random.default_rng(seed)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    xs = (x - mean) / std
    t = np.eye(5)[y - 1]
    params = {
        "w1": rng.normal(0, 1 / np.sqrt(x.shape[1]), (x.shape[1], hidden)),
        "b1": np.zeros(hidden),
        "w2": rng.normal(0, 1 / np.sqrt(hidden), (hidden, 5)),
        "b2": np.zeros(5),
    }
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(v) for k, v in params.items()}
    lr, b1, b2 = 0.01, 0.9, 0.999
    for step in range(1, epochs + 1):
        h = np.tanh(xs @ params["w1"] + params["b1"])
        z = h @ params["w2"] + params["b2"]
        z = np.exp(z - z.max(axis=1, keepdims=True))
        p = z / z.sum(axis=1, keepdims=True)
        dz = (p - t) / len(xs)
        grads = {"w2": h.T @ dz + l2 * params["w2"], "b2": dz.sum(axis=0)}
        dh = (dz @ params["w2"].T) * (1 - h**2)
        grads["w1"] = xs.T @ dh + l2 * params["w1"]
        grads["b1"] = dh.sum(axis=0)
        for k in params:
            m[k] = b1 * m[k] + (1 - b1) * grads[k]
            v[k] = b2 * v[k] + (1 - b2) * grads[k] ** 2
            params[k] -= lr * (m[k] / (1 - b1**step)) / (np.sqrt(v[k] / (1 - b2**step)) + 1e-8)
    return {"mean": mean.tolist(), "std": std.tolist()} | {
        k: val.tolist() for k, val in params.items()
    }
