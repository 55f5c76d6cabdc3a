"""Step 4: measure the exported ONNX model: test set (exact door pipeline), synthetic wrong-wear, latency.

The test photos are only read here, after training; nothing from test/ feeds training or the choice
of the model.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .croprule import door_crop
from .data import EvalSet, Preprocess, synthetic_eval_items, texture_pool
from .export import INPUT_NAME, OUTPUT_NAME, ort_session
from .images import load_rgb
from .prepare import Sample
from .synth import MODES


def binary_metrics(p_mask: np.ndarray, is_mask: np.ndarray, threshold: float) -> dict:
    pred = p_mask >= threshold
    tp = int((pred & is_mask).sum())  # masked, passed
    fn = int((~pred & is_mask).sum())  # masked, rejected
    fp = int((pred & ~is_mask).sum())  # no mask, passed
    tn = int((~pred & ~is_mask).sum())  # no mask, rejected
    n = len(pred)
    return {
        "n": n, "accuracy": (tp + tn) / n if n else None,
        "false_pass_rate": fp / (fp + tn) if fp + tn else None,
        "false_reject_rate": fn / (tp + fn) if tp + fn else None,
        "confusion": {"with_mask": {"pass": tp, "fail": fn}, "without_mask": {"pass": fp, "fail": tn}},
    }


def run_model(sess, batch: np.ndarray) -> np.ndarray:
    return sess.run([OUTPUT_NAME], {INPUT_NAME: batch})[0][:, 0]


def evaluate_test(onnx_path: Path, samples: list[Sample], pre: Preprocess, threshold: float) -> dict:
    """Door pipeline on the original test photos: crop rule at full resolution, bilinear resize."""
    sess = ort_session(onnx_path)
    test = [s for s in samples if s.split == "test"]
    probs = []
    for s in tqdm(test, desc="evaluate: test photos", unit="img"):
        img, _ = load_rgb(s.path)
        crop = door_crop(img, s.box, pre.size)
        probs.append(run_model(sess, pre.to_tensor(crop).numpy()[None])[0])
    p = np.array(probs)
    is_mask = np.array([s.label == "with_mask" for s in test])
    src = np.array([s.box_source for s in test])
    out = {"all": binary_metrics(p, is_mask, threshold)}
    for name in ("detected", "detected_padded", "fallback"):
        sel = src == name
        if sel.any():
            out[f"box_{name}"] = binary_metrics(p[sel], is_mask[sel], threshold)
    sel = src != "fallback"
    out["face_found"] = binary_metrics(p[sel], is_mask[sel], threshold)
    out["threshold_sweep"] = {f"{t:.2f}": binary_metrics(p, is_mask, t)
                              for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)}
    out["errors"] = [{"file": Path(s.path).name, "label": s.label, "p_mask": round(float(q), 4), "box": s.box_source}
                     for s, q, m in zip(test, p, is_mask) if (q >= threshold) != m]
    return out


def evaluate_synthetic(onnx_path: Path, samples: list[Sample], split: str, pre: Preprocess, threshold: float,
                       seed: int) -> dict:
    """Painted masks on ``split``'s no-mask faces (textures from the same split's with_mask photos)."""
    sess = ort_session(onnx_path)
    part = [s for s in samples if s.split == split]
    ds = EvalSet(part, pre, synthetic_eval_items(part), texture_pool(part), seed=seed)
    probs = []
    for k in tqdm(range(len(ds)), desc=f"evaluate: synthetic ({split})", unit="img"):
        x, _ = ds[k]
        probs.append(run_model(sess, x.numpy()[None])[0])
    p = np.array(probs)
    modes = np.array([m for _, m in ds.items])
    out = {"faces": len(p) // len(MODES), "modes": {}}
    for m, (_, _, label) in MODES.items():
        sel = modes == m
        expected_pass = label == "with_mask"
        ok = (p[sel] >= threshold) == expected_pass
        out["modes"][m] = {"n": int(sel.sum()), "expected": "PASS" if expected_pass else "FAIL",
                           "correct": int(ok.sum()), "accuracy": float(ok.mean())}
    return out


def latency(onnx_path: Path, size: int, runs: int = 2000) -> dict:
    """Per-face latency, batch 1, onnxruntime with one intra-op thread."""
    sess = ort_session(onnx_path, threads=1)
    x = np.random.default_rng(0).normal(0, 1, (1, 3, size, size)).astype(np.float32)
    for _ in range(100):
        run_model(sess, x)
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run_model(sess, x)
        t.append(time.perf_counter() - t0)
    ms = np.array(t) * 1000
    return {"runs": runs, "median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
            "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean()),
            "onnxruntime": __import__("onnxruntime").__version__, "threads": 1}
