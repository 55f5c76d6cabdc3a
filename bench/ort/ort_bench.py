#!/usr/bin/env python3
"""The onnxruntime baseline of the edge-agent door pipeline.

Runs, per frame, what ``edge-agent`` does with tract: decode the image, find faces with
UltraFace (resize to the model input with a bilinear filter, RGB, ``(px - 127) / 128``, NCHW;
keep faces with score >= ``--score-threshold``, then NMS at ``--nms-iou``), cut each face by
the classifier's crop rule and classify it. Both models run in onnxruntime on one thread,
sequentially, so that "tract time / onnxruntime time" compares like with like.

Everything about the classifier (input size, colour order, scaling, mean/std, crop margin,
label order, ``mask_index``, decision threshold) is read from its manifest.

UltraFace's file lists its weights among the graph inputs (an old exporter), which stops
onnxruntime from folding constants; by default they are taken out of the inputs in memory
(see ``without_initializer_inputs``), ``--detector-as-is`` runs the file untouched.

Bench mode prints one JSON object (median and p95 per stage in milliseconds, plus the
model-run-only times). ``--check`` prints one JSON line per image in the format of
``edge-agent classify`` instead, to compare the two implementations' outputs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import PIL
from PIL import Image

# ---------------------------------------------------------------------------------------------
# Sessions


def make_session(model: Path | bytes) -> ort.InferenceSession:
    """An onnxruntime CPU session on one thread, sequential execution, all graph optimisations."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only (old exporters trigger one warning per weight)
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])


def without_initializer_inputs(path: Path) -> tuple[bytes, int]:
    """The model at ``path`` with its weights taken out of the graph inputs, and how many were.

    Old exporters (such as the one that wrote UltraFace's IR 4, opset 9 file) list every
    initializer among the graph inputs as well. onnxruntime then treats the weights as
    inputs a caller may override, so it cannot fold constants or fuse BatchNorm into Conv
    (it warns about each of them), while tract loads them as constants. Removing them from
    the inputs is what onnxruntime's ``remove_initializer_from_input.py`` tool does; the
    weights and outputs are unchanged.
    """
    import onnx  # only needed here

    model = onnx.load(str(path))
    weights = {init.name for init in model.graph.initializer}
    real = [i for i in model.graph.input if i.name not in weights]
    removed = len(model.graph.input) - len(real)
    if removed:
        del model.graph.input[:]
        model.graph.input.extend(real)
    return model.SerializeToString(), removed


def timed_run(session: ort.InferenceSession, feeds: dict) -> tuple[list[np.ndarray], int]:
    """The session's outputs for ``feeds`` and the nanoseconds ``session.run`` took."""
    start = time.perf_counter_ns()
    outputs = session.run(None, feeds)
    return outputs, time.perf_counter_ns() - start


# ---------------------------------------------------------------------------------------------
# Faces


@dataclass(frozen=True)
class Face:
    """A face box in pixels of the frame (float32 values, as in edge-agent) and its score."""

    x1: np.float32
    y1: np.float32
    x2: np.float32
    y2: np.float32
    confidence: np.float32

    def area(self) -> np.float32:
        """The area; zero for an empty or inverted box."""
        return max(self.x2 - self.x1, np.float32(0)) * max(self.y2 - self.y1, np.float32(0))


def iou(a: Face, b: Face) -> np.float32:
    """Intersection over union of two boxes (edge-agent's ``decide::iou``)."""
    inter = Face(max(a.x1, b.x1), max(a.y1, b.y1), min(a.x2, b.x2), min(a.y2, b.y2),
                 np.float32(0)).area()
    union = a.area() + b.area() - inter
    return np.float32(0) if union <= 0 else inter / union


def non_max_suppression(faces: list[Face], max_iou: float) -> list[Face]:
    """Keeps the most confident of boxes overlapping more than ``max_iou``, best first
    (a stable sort, like edge-agent's ``detect::non_max_suppression``)."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: -f.confidence):
        if all(iou(k, face) <= max_iou for k in kept):
            kept.append(face)
    return kept


class UltraFace:
    """UltraFace RFB as ONNX: input 1x3xHxW RGB ``(px - 127) / 128``; outputs scores [1,N,2]
    (background, face) and boxes [1,N,4] (x1, y1, x2, y2 in 0..1), already decoded."""

    #: ``x = (pixel - MEAN) / SCALE``: the normalisation UltraFace was trained with.
    MEAN = np.float32(127.0)
    SCALE = np.float32(128.0)

    def __init__(self, path: Path, score_threshold: float, nms_iou: float, as_is: bool):
        if as_is:
            self.session, self.initializer_inputs_removed = make_session(path), 0
        else:
            data, self.initializer_inputs_removed = without_initializer_inputs(path)
            self.session = make_session(data)
        model_input = self.session.get_inputs()[0]
        shape = model_input.shape
        if len(shape) != 4 or shape[0] != 1 or shape[1] != 3 or not all(
                isinstance(d, int) for d in shape):
            raise SystemExit(f"{path}: expected an input of shape 1x3xHxW, found {shape}")
        self.input_name = model_input.name
        self.height, self.width = shape[2], shape[3]
        self.score_threshold = np.float32(score_threshold)
        self.nms_iou = np.float32(nms_iou)

    def preprocess(self, frame: Image.Image) -> np.ndarray:
        """The model input: the frame resized (bilinear), ``(px - 127) / 128``, NCHW."""
        resized = frame.resize((self.width, self.height), Image.Resampling.BILINEAR)
        pixels = np.asarray(resized, dtype=np.float32)
        return ((pixels - self.MEAN) / self.SCALE).transpose(2, 0, 1)[np.newaxis]

    def decode(self, scores: np.ndarray, boxes: np.ndarray, frame_width: int,
               frame_height: int) -> list[Face]:
        """Faces in frame pixels: those scoring at least the threshold, clamped to the frame,
        non-empty, then NMS (edge-agent's ``decode_ultraface``)."""
        scores = scores.reshape(-1, 2)
        boxes = boxes.reshape(-1, 4)
        if len(scores) != len(boxes):
            raise RuntimeError(f"outputs disagree: {len(scores)} scores, {len(boxes)} boxes")
        keep = scores[:, 1] >= self.score_threshold
        size = np.array([frame_width, frame_height] * 2, dtype=np.float32)
        pixels = np.clip(boxes[keep].astype(np.float32) * size, 0, size)
        faces = [Face(*b, c) for b, c in zip(pixels, scores[keep, 1].astype(np.float32))]
        return non_max_suppression([f for f in faces if f.area() > 0], self.nms_iou)

    def detect(self, frame: Image.Image) -> tuple[list[Face], int]:
        """The faces in ``frame`` and the nanoseconds of the model run alone."""
        outputs, run_ns = timed_run(self.session, {self.input_name: self.preprocess(frame)})
        if len(outputs) < 2:
            raise RuntimeError(f"UltraFace gave {len(outputs)} outputs, expected scores, boxes")
        return self.decode(outputs[0], outputs[1], frame.width, frame.height), run_ns


# ---------------------------------------------------------------------------------------------
# Classifier


def crop_rect(face: Face, margin: float, frame_width: int,
              frame_height: int) -> tuple[int, int, int, int]:
    """The crop ``(left, top, right, bottom)`` of a face (edge-agent's ``crop::crop_rect``):
    each side widened by ``margin`` x its length, squared on the longer side around the
    centre, edges rounded, clamped to the frame, at least one pixel wide and high."""
    f32 = np.float32
    fw, fh = f32(max(frame_width, 1)), f32(max(frame_height, 1))
    w, h = max(face.x2 - face.x1, f32(1)), max(face.y2 - face.y1, f32(1))
    side = max(w, h) * (f32(1) + f32(2) * max(f32(margin), f32(0)))
    cx, cy = (face.x1 + face.x2) / f32(2), (face.y1 + face.y2) / f32(2)
    half = side / f32(2)

    def rounded(v: np.float32) -> np.float32:
        # Rust's f32::round (half away from zero); values below zero are clamped away.
        return np.floor(v + f32(0.5)) if v >= 0 else -np.floor(-v + f32(0.5))

    x1 = min(max(rounded(cx - half), f32(0)), fw - 1)
    y1 = min(max(rounded(cy - half), f32(0)), fh - 1)
    x2 = min(max(rounded(cx + half), x1 + 1), fw)
    y2 = min(max(rounded(cy + half), y1 + 1), fh)
    return int(x1), int(y1), int(x2), int(y2)


class Classifier:
    """A mask classifier described by its manifest (the JSON beside the ``.onnx``)."""

    def __init__(self, path: Path):
        manifest_path = path.with_suffix(".json") if path.suffix == ".onnx" else path
        try:
            self.manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError) as error:
            raise SystemExit(f"model manifest {manifest_path}: {error}") from error
        m = self.manifest
        self.size = int(m["input"]["size"])
        self.order = {"RGB": [0, 1, 2], "BGR": [2, 1, 0]}[m["input"]["color_order"]]
        pre = m["preprocess"]
        self.pixel_scale = np.float32(pre["pixel_scale"])
        self.mean = np.array(pre["mean"], dtype=np.float32)
        self.std = np.array(pre["std"], dtype=np.float32)
        self.margin = float(m["crop"]["margin"])
        self.labels = list(m["labels"])
        self.mask_index = int(m["mask_index"])
        self.threshold = float(m["decision"]["threshold"])
        if not 0 <= self.mask_index < len(self.labels) or self.size <= 0 or (self.std == 0).any():
            raise SystemExit(f"{manifest_path}: bad input size, mask_index or std")
        model_file = manifest_path.parent / m["file"]
        data = model_file.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != m["sha256"].lower():
            raise SystemExit(f"{model_file}: SHA-256 is {digest}, the manifest says {m['sha256']}")
        self.model_file = model_file
        self.session = make_session(data)
        self.input_name = self.session.get_inputs()[0].name
        self._self_test(m.get("self_test"))

    def _self_test(self, test: dict | None) -> None:
        """Runs the manifest's self-test input, ``((7c + 3y + x) mod 17) / 8 - 1``, and checks
        the output against it (as ``Classifier::load`` does in edge-agent)."""
        c, y, x = np.meshgrid(*(np.arange(n) for n in (3, self.size, self.size)), indexing="ij")
        probe = (((7 * c + 3 * y + x) % 17) / 8 - 1).astype(np.float32)[np.newaxis]
        probabilities, _ = self.run(probe)
        if len(probabilities) != len(self.labels):
            raise SystemExit(f"{self.model_file}: {len(probabilities)} outputs for "
                             f"{len(self.labels)} labels")
        if test is not None:
            off = np.abs(probabilities - np.array(test["expected_probabilities"])).max()
            if off > test["tolerance"]:
                expected = test["expected_probabilities"]
                raise SystemExit(f"{self.model_file}: fails its self-test: gave "
                                 f"{probabilities.tolist()}, expected {expected}")

    def preprocess(self, frame: Image.Image, face: Face) -> np.ndarray:
        """The model input for a face: the crop, resized (bilinear) to the input size,
        ``(pixel * pixel_scale - mean) / std`` in the manifest's colour order, NCHW."""
        box = crop_rect(face, self.margin, frame.width, frame.height)
        crop = frame.crop(box).resize((self.size, self.size), Image.Resampling.BILINEAR)
        pixels = np.asarray(crop, dtype=np.float32)[:, :, self.order] * self.pixel_scale
        return ((pixels - self.mean) / self.std).transpose(2, 0, 1)[np.newaxis]

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, int]:
        """The label probabilities for one input and the nanoseconds of the model run."""
        outputs, run_ns = timed_run(self.session, {self.input_name: batch})
        return outputs[0].reshape(-1), run_ns

    def mask_probability(self, frame: Image.Image, face: Face) -> tuple[float, int]:
        """The probability that ``face`` wears a mask and the nanoseconds of the model run."""
        probabilities, run_ns = self.run(self.preprocess(frame, face))
        return float(np.clip(probabilities[self.mask_index], 0.0, 1.0)), run_ns


# ---------------------------------------------------------------------------------------------
# Running


def decode_image(path: Path) -> Image.Image:
    """The image at ``path`` as RGB (format sniffed from the content, alpha dropped)."""
    with Image.open(path) as image:
        return image.convert("RGB")


def list_images(root: Path) -> list[Path]:
    """``root`` itself if a file, else the files under it, recursively, sorted."""
    if not root.is_dir():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file())


@dataclass
class FrameTimes:
    """Nanoseconds of one frame's stages, and the faces found in it."""

    decode: int
    detect: int
    classify: int
    detector_run: int
    classify_per_face: list[int]
    classifier_runs: list[int]
    faces: list[tuple[Face, float]]

    @property
    def total(self) -> int:
        """The whole frame."""
        return self.decode + self.detect + self.classify


def process(path: Path, detector: UltraFace, classifier: Classifier) -> FrameTimes:
    """One frame through the pipeline, each stage timed."""
    t0 = time.perf_counter_ns()
    frame = decode_image(path)
    t1 = time.perf_counter_ns()
    faces, detector_run = detector.detect(frame)
    t2 = time.perf_counter_ns()
    results, per_face, runs = [], [], []
    for face in faces:
        start = time.perf_counter_ns()
        score, run_ns = classifier.mask_probability(frame, face)
        per_face.append(time.perf_counter_ns() - start)
        runs.append(run_ns)
        results.append((face, score))
    t3 = time.perf_counter_ns()
    return FrameTimes(t1 - t0, t2 - t1, t3 - t2, detector_run, per_face, runs, results)


def rounded_half_away(v: float) -> float:
    """Rust's ``f32::round`` for the printed box edges."""
    return float(np.copysign(np.floor(abs(v) + 0.5), v))


def check(paths: list[Path], detector: UltraFace, classifier: Classifier,
          threshold: float) -> int:
    """Prints one JSON line per image like ``edge-agent classify``; returns the exit code."""
    processed = 0
    for path in paths:
        try:
            faces = process(path, detector, classifier).faces
        except (OSError, Image.DecompressionBombError) as error:
            print(json.dumps({"image": str(path), "error": str(error)}))
            continue
        processed += 1
        print(json.dumps({"image": str(path), "faces": [
            {"box": [rounded_half_away(float(v)) for v in (f.x1, f.y1, f.x2, f.y2)],
             "mask": score >= threshold,
             "score": round(score, 4)}
            for f, score in faces]}))
    print(f"{processed} images classified, {len(paths) - processed} could not be read",
          file=sys.stderr)
    return 0 if processed else 1


def summary(samples_ns: list[int]) -> dict:
    """Median and p95 in milliseconds, and the sample count."""
    if not samples_ns:
        return {"median_ms": None, "p95_ms": None, "n": 0}
    ms = np.array(samples_ns, dtype=np.float64) / 1e6
    return {"median_ms": round(float(np.median(ms)), 4),
            "p95_ms": round(float(np.percentile(ms, 95)), 4),
            "n": len(ms)}


def bench(paths: list[Path], detector: UltraFace, classifier: Classifier, repeat: int,
          warmup: bool, args: argparse.Namespace) -> dict:
    """Runs every frame ``repeat`` times (after one untimed pass with ``warmup``) and
    summarises the stage times."""
    load_before = os.getloadavg()
    if warmup:
        for path in paths:
            process(path, detector, classifier)
    runs = [process(path, detector, classifier) for _ in range(repeat) for path in paths]
    load_after = os.getloadavg()
    flat = lambda key: [v for r in runs for v in getattr(r, key)]  # noqa: E731
    first_pass = runs[:len(paths)]
    return {
        "runtime": "onnxruntime",
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "python": platform.python_version(),
        "threads": {"intra_op": 1, "inter_op": 1, "execution_mode": "sequential"},
        "detector": str(args.detector),
        "detector_input": [detector.width, detector.height],
        "detector_initializer_inputs_removed": detector.initializer_inputs_removed,
        "classifier": str(classifier.model_file),
        "classifier_input": classifier.size,
        "frames": len(paths),
        "faces": sum(len(r.faces) for r in first_pass),
        "frames_with_faces": sum(1 for r in first_pass if r.faces),
        "repeat": repeat,
        "warmup": warmup,
        "stages": {
            "decode": summary([r.decode for r in runs]),
            "detect": summary([r.detect for r in runs]),
            "classify": summary([r.classify for r in runs]),
            "classify_per_face": summary(flat("classify_per_face")),
            "total": summary([r.total for r in runs]),
        },
        "model_run_only": {
            "detector": summary([r.detector_run for r in runs]),
            "classifier": summary(flat("classifier_runs")),
        },
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in load_after],
        "cpus": os.cpu_count(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=Path, required=True,
                        help="an image, or a folder of images (searched recursively, sorted)")
    parser.add_argument("--detector", type=Path, required=True, help="the UltraFace .onnx")
    parser.add_argument("--classifier", type=Path, required=True,
                        help="the classifier's manifest (.json), or its model (.onnx) "
                             "with the manifest beside it")
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed passes over all frames (default 5)")
    parser.add_argument("--warmup", action="store_true",
                        help="one untimed pass over all frames first")
    parser.add_argument("--detector-as-is", action="store_true",
                        help="run the detector file untouched, weights still listed as graph "
                             "inputs (slower in onnxruntime: no constant folding)")
    parser.add_argument("--check", action="store_true",
                        help="print one JSON line per image (as `edge-agent classify`) "
                             "instead of timing")
    parser.add_argument("--score-threshold", type=float, default=0.7,
                        help="least UltraFace face score (default 0.7, as edge-agent)")
    parser.add_argument("--nms-iou", type=float, default=0.3,
                        help="NMS drops boxes overlapping a better one above this IoU "
                             "(default 0.3, as edge-agent)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="mask score at or above which a face is masked "
                             "(default: the manifest's decision.threshold)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Loads the models, then checks or benchmarks."""
    args = parse_args(argv)
    detector = UltraFace(args.detector, args.score_threshold, args.nms_iou,
                         args.detector_as_is)
    classifier = Classifier(args.classifier)
    paths = list_images(args.frames)
    if args.check:
        threshold = classifier.threshold if args.threshold is None else args.threshold
        return check(paths, detector, classifier, threshold)
    readable = []
    for path in paths:
        try:
            decode_image(path)
            readable.append(path)
        except (OSError, Image.DecompressionBombError) as error:
            print(f"skipped {path}: {error}", file=sys.stderr)
    if not readable:
        print("no readable frames", file=sys.stderr)
        return 1
    print(json.dumps(bench(readable, detector, classifier, args.repeat, args.warmup, args),
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
