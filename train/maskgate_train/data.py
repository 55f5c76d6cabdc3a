"""Datasets: real face crops (via the cached context + the crop rule) and synthetic wrong-wear faces.

Every random choice comes from ``numpy.random.default_rng([seed, epoch, index])``, so an epoch's
data is the same whether training ran straight through or was resumed.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from .croprule import crop_box
from .prepare import Sample
from .synth import MODES, paint_mask, texture_patch

LABEL_INDEX = {"with_mask": 0, "without_mask": 1}
FILTERS = [(Image.BILINEAR, 0.6), (Image.BICUBIC, 0.15), (Image.BOX, 0.1), (Image.NEAREST, 0.05), (Image.LANCZOS, 0.1)]


@dataclass
class Preprocess:
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def to_tensor(self, img: Image.Image) -> torch.Tensor:
        x = np.asarray(img, dtype=np.float32) / 255.0
        x = (x - np.array(self.mean, np.float32)) / np.array(self.std, np.float32)
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def _pick_filter(rng) -> int:
    r, acc = rng.random(), 0.0
    for f, p in FILTERS:
        acc += p
        if r < acc:
            return f
    return Image.BILINEAR


def jitter_box(box, rng):
    """Simulate a different detector's box: shift, scale, aspect."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    cx = (x1 + x2) / 2 + float(np.clip(rng.normal(0, 0.05), -0.12, 0.12)) * w
    cy = (y1 + y2) / 2 + float(np.clip(rng.normal(0, 0.05), -0.12, 0.12)) * h
    if rng.random() < 0.3:  # tight crops: many with_mask photos are cut close; keep tightness no cue
        s = math.exp(rng.uniform(math.log(0.65), math.log(0.88)))
    else:
        s = math.exp(rng.uniform(math.log(0.88), math.log(1.18)))
    a = math.exp(rng.uniform(-0.08, 0.08))
    w, h = w * s * a, h * s / a
    r = rng.random()
    if r < 0.15:  # UltraFace often boxes only the upper face of a masked person: eyes to nose
        cy -= rng.uniform(0.08, 0.2) * h
        h *= rng.uniform(0.7, 0.9)
    elif r < 0.2:
        cy += rng.uniform(0.04, 0.12) * h
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def crop_from_context(ctx: Image.Image, box, size: int, rng=None) -> Image.Image | None:
    """The crop rule on the cached context; with ``rng``, geometric and resize-filter jitter."""
    resample = Image.BILINEAR
    if rng is not None:
        box = jitter_box(box, rng)
        if rng.random() < 0.3:  # small in-plane rotation around the face centre
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            ctx = ctx.rotate(rng.uniform(-12, 12), resample=Image.BILINEAR, center=(cx, cy))
        resample = _pick_filter(rng)
    cb = crop_box(box, ctx.width, ctx.height)
    if cb is None:
        return None
    return ctx.resize((size, size), resample, box=cb)


def photometric(img: Image.Image, rng) -> Image.Image:
    if rng.random() < 0.5:
        img = ImageOps.mirror(img)
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.6, 1.4))
    img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.6, 1.4))
    img = ImageEnhance.Color(img).enhance(rng.uniform(0.5, 1.5))
    if rng.random() < 0.07:
        img = ImageOps.grayscale(img).convert("RGB")
    if rng.random() < 0.2:  # a low-resolution camera
        s = img.width
        k = int(s * rng.uniform(0.35, 0.8))
        img = img.resize((k, k), Image.BILINEAR).resize((s, s), Image.BILINEAR)
    if rng.random() < 0.25:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    if rng.random() < 0.2:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=int(rng.integers(30, 85)))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    if rng.random() < 0.2:
        arr = np.asarray(img, dtype=np.float32)
        arr = arr + rng.normal(0, rng.uniform(2, 10), size=arr.shape)
        img = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
    return img


def synth_base_pool(samples: list[Sample]) -> list[int]:
    """Faces usable as a base for painted masks: no mask, face found by the detector."""
    return [i for i, s in enumerate(samples) if s.label == "without_mask" and s.box_source != "fallback"]


def texture_pool(samples: list[Sample]) -> list[Image.Image]:
    out = []
    for s in samples:
        if s.label == "with_mask" and s.box_source != "fallback":
            t = texture_patch(s.ctx_image(), s.box_in_ctx())
            if t is not None:
                out.append(t)
    return out


class TrainSet(torch.utils.data.Dataset):
    """One epoch: every real sample once, plus ``synth_fraction`` x as many painted-mask faces."""

    def __init__(self, samples: list[Sample], pre: Preprocess, seed: int, epoch: int,
                 synth_fraction: float, synth_mix: dict[str, float], textures: list[Image.Image]):
        self.samples, self.pre, self.seed, self.epoch = samples, pre, seed, epoch
        self.textures = textures
        rng = np.random.default_rng([seed, epoch, 987654321])
        self.items: list[tuple[int, str | None]] = [(i, None) for i in range(len(samples))]
        base = synth_base_pool(samples)
        modes, probs = list(synth_mix), np.array(list(synth_mix.values()), dtype=np.float64)
        n_syn = int(round(synth_fraction * len(samples))) if base else 0
        for _ in range(n_syn):
            self.items.append((base[int(rng.integers(len(base)))], modes[rng.choice(len(modes), p=probs / probs.sum())]))

    def __len__(self) -> int:
        return len(self.items)

    def label_of(self, k: int) -> int:
        i, mode = self.items[k]
        return LABEL_INDEX[MODES[mode][2] if mode else self.samples[i].label]

    def __getitem__(self, k: int):
        i, mode = self.items[k]
        s = self.samples[i]
        rng = np.random.default_rng([self.seed, self.epoch, k])
        ctx, box = s.ctx_image(), s.box_in_ctx()
        if mode is not None:
            ctx = paint_mask(ctx, box, mode, rng, self.textures)
        img = None
        for _ in range(3):
            img = crop_from_context(ctx, box, self.pre.size, rng)
            if img is not None:
                break
        if img is None:
            img = crop_from_context(ctx, box, self.pre.size)
        img = photometric(img, rng)
        return self.pre.to_tensor(img), self.label_of(k)


class EvalSet(torch.utils.data.Dataset):
    """Deterministic crops (no jitter). ``mode`` None: the real label; else a painted mask."""

    def __init__(self, samples: list[Sample], pre: Preprocess, items: list[tuple[int, str | None]],
                 textures: list[Image.Image] | None = None, seed: int = 0):
        self.samples, self.pre, self.items, self.textures, self.seed = samples, pre, items, textures or [], seed

    def __len__(self) -> int:
        return len(self.items)

    def label_of(self, k: int) -> int:
        i, mode = self.items[k]
        return LABEL_INDEX[MODES[mode][2] if mode else self.samples[i].label]

    def image(self, k: int) -> Image.Image:
        i, mode = self.items[k]
        s = self.samples[i]
        ctx, box = s.ctx_image(), s.box_in_ctx()
        if mode is not None:
            ctx = paint_mask(ctx, box, mode, np.random.default_rng([self.seed, k]), self.textures)
        return crop_from_context(ctx, box, self.pre.size)

    def __getitem__(self, k: int):
        return self.pre.to_tensor(self.image(k)), self.label_of(k)


def synthetic_eval_items(samples: list[Sample]) -> list[tuple[int, str]]:
    """Every detected no-mask face of ``samples`` once in each painted mode."""
    return [(i, m) for i in synth_base_pool(samples) for m in MODES]
