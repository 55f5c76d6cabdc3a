"""Step 1: find the face in every photo, and cache a small context crop around it.

For each image: decode by content, detect with UltraFace (score > 0.7, NMS 0.3, largest face).
If no face is found (many photos are already tight face crops), retry on the image padded with
grey borders (30 %, then 15 %, then 50 % of its longer side) and map the box back, clipped to the
image; if there is still none, the whole image is the face box ("fallback"). The crop rule
applied to a whole-image box yields the whole image.

The cache holds, per image, a JPEG of a square context region 1.6x the door crop around the same
centre (clamped to the image), scaled so that the door crop is at most CTX_FACE_PX pixels wide,
so training can jitter the box and re-apply the exact crop rule cheaply.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageOps
from tqdm import tqdm

from .croprule import square_box
from .detect import UltraFace
from .images import UnreadableImage, load_rgb

LABELS = ("with_mask", "without_mask")
CTX_FACE_PX = 160
CTX_FACTOR = 1.6
PAD_RETRIES = (0.30, 0.15, 0.50)


@dataclass
class Sample:
    id: str
    split: str  # train | val | test
    label: str
    path: str
    width: int
    height: int
    box: tuple[float, float, float, float]  # face box in original pixels
    box_source: str  # detected | detected_padded | fallback
    score: float
    ctx_jpeg: bytes = field(repr=False)
    ctx_origin: tuple[int, int]  # top-left of the context region in original pixels
    ctx_scale: float  # context pixels per original pixel
    ctx_size: tuple[int, int]  # context region size in original pixels (w, h)

    def ctx_image(self) -> Image.Image:
        return Image.open(io.BytesIO(self.ctx_jpeg)).convert("RGB")

    def box_in_ctx(self) -> tuple[float, float, float, float]:
        ox, oy = self.ctx_origin
        k = self.ctx_scale
        x1, y1, x2, y2 = self.box
        return ((x1 - ox) * k, (y1 - oy) * k, (x2 - ox) * k, (y2 - oy) * k)


def find_face(det: UltraFace, img: Image.Image):
    """(box, source, score) for the largest face, with padded retries and whole-image fallback."""
    face = det.largest_face(img)
    if face is not None:
        return face[1], "detected", face[0]
    for frac in PAD_RETRIES:
        b = int(round(frac * max(img.size)))
        padded = ImageOps.expand(img, border=b, fill=(127, 127, 127))
        face = det.largest_face(padded)
        if face is not None:
            x1, y1, x2, y2 = face[1]
            box = (max(0.0, x1 - b), max(0.0, y1 - b), min(float(img.width), x2 - b), min(float(img.height), y2 - b))
            if box[2] - box[0] >= 8 and box[3] - box[1] >= 8:
                return box, "detected_padded", face[0]
    return (0.0, 0.0, float(img.width), float(img.height)), "fallback", 0.0


def make_context(img: Image.Image, box) -> tuple[bytes, tuple[int, int], float, tuple[int, int]]:
    sx1, sy1, sx2, sy2 = square_box(box)
    side = sx2 - sx1
    cx, cy = (sx1 + sx2) / 2, (sy1 + sy2) / 2
    half = side * CTX_FACTOR / 2
    left, top = max(0, int(cx - half)), max(0, int(cy - half))
    right, bottom = min(img.width, int(cx + half + 1)), min(img.height, int(cy + half + 1))
    k = min(1.0, CTX_FACE_PX / side)
    w, h = right - left, bottom - top
    out = img.resize((max(1, round(w * k)), max(1, round(h * k))), Image.BILINEAR, box=(left, top, right, bottom))
    # exact scale per axis differs by rounding; use the x scale (differences < 1 px)
    k = out.width / w
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=95)
    return buf.getvalue(), (left, top), k, (w, h)


def read_manifest(data_root: Path) -> dict[str, dict[str, str]]:
    rows = {}
    mf = data_root / "MANIFEST.tsv"
    if mf.exists():
        with mf.open(newline="") as f:
            for r in csv.DictReader(f, delimiter="\t"):
                rows[r["file"]] = r
    return rows


def prepare(data_root: Path, out_dir: Path, detector: Path, val_fraction: float, seed: int) -> dict:
    """Build ``out_dir/samples.pkl`` and ``out_dir/prepare_report.json``; skip if done."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report_path = out_dir / "prepare_report.json"
    samples_path = out_dir / "samples.pkl"
    if report_path.exists() and samples_path.exists():
        print(f"[prepare] done already: {samples_path}")
        return json.loads(report_path.read_text())

    manifest = read_manifest(data_root)
    det = UltraFace(detector)
    files = []
    for split in ("train", "test"):
        for label in LABELS:
            for p in sorted((data_root / split / label).iterdir()):
                if p.is_file():
                    files.append((split, label, p))

    samples: list[Sample] = []
    unreadable: list[dict] = []
    formats: Counter = Counter()
    ext_mismatch = 0
    for split, label, p in tqdm(files, desc="prepare: detect faces", unit="img"):
        try:
            img, fmt = load_rgb(p)
        except UnreadableImage as exc:
            unreadable.append({"file": f"{split}/{label}/{p.name}", "reason": str(exc)})
            continue
        formats[fmt] += 1
        ext = p.suffix.lower().lstrip(".")
        if {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}.get(ext) != fmt:
            ext_mismatch += 1
        box, source, score = find_face(det, img)
        ctx, origin, k, csize = make_context(img, box)
        samples.append(Sample(p.stem, split, label, str(p), img.width, img.height, box, source,
                              score, ctx, origin, k, csize))

    # validation split from train/ only, stratified by label
    rng = random.Random(seed)
    for label in LABELS:
        idx = [i for i, s in enumerate(samples) if s.split == "train" and s.label == label]
        rng.shuffle(idx)
        for i in idx[: round(len(idx) * val_fraction)]:
            samples[i].split = "val"

    counts: dict = {}
    for s in samples:
        c = counts.setdefault(s.split, {}).setdefault(s.label, Counter())
        c[s.box_source] += 1
        c["total"] += 1
    report = {
        "data_root": str(data_root),
        "manifest_rows": len(manifest),
        "files_seen": len(files),
        "usable": len(samples),
        "unreadable": unreadable,
        "formats": dict(formats),
        "extension_not_matching_content": ext_mismatch,
        "val_fraction": val_fraction,
        "seed": seed,
        "counts": counts,
    }
    with samples_path.with_suffix(".tmp").open("wb") as f:
        pickle.dump(samples, f, protocol=pickle.HIGHEST_PROTOCOL)
    samples_path.with_suffix(".tmp").rename(samples_path)
    report_path.write_text(json.dumps(report, indent=2))
    print(f"[prepare] {len(samples)} usable, {len(unreadable)} unreadable; counts: {json.dumps(counts)}")
    return report


def load_samples(out_dir: Path) -> list[Sample]:
    with (out_dir / "samples.pkl").open("rb") as f:
        return pickle.load(f)
