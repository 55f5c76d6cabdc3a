"""Synthetic mask-wearing examples, to teach "mask under the nose / on the chin = FAIL".

The data has no worn-wrong class, so we paint a mask onto faces WITHOUT a mask, at one of three
heights measured in the face box (v = 0 at the box top, 1 at its bottom; with UltraFace boxes the
eyes sit near v = 0.42, the nose tip near 0.60, the mouth near 0.75, the chin near 0.97):

  wrong_nose  top edge v in [0.65, 0.74]: nose uncovered, mouth and chin covered   -> without_mask
  wrong_chin  top edge v in [0.80, 0.90]: only the chin covered                     -> without_mask
  correct     top edge v in [0.46, 0.53]: nose, mouth and chin covered              -> with_mask

"correct" examples are painted the same way as the wrong ones, so the only thing that tells
them apart is where the mask sits (not the look of a pasted mask). The mask's look comes either
from a real mask (a patch cut from the mouth area of a with_mask photo of the same split) or from
a plain colour with pleats, noise and shading; straps sometimes.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

MODES = {
    "wrong_nose": ((0.65, 0.74), (1.00, 1.12), "without_mask"),
    "wrong_chin": ((0.80, 0.90), (1.03, 1.15), "without_mask"),
    "correct": ((0.46, 0.53), (1.00, 1.12), "with_mask"),
}

PALETTE = [
    (140, 180, 210), (170, 200, 225), (110, 160, 200), (235, 235, 235), (215, 220, 225),
    (30, 30, 32), (60, 60, 65), (120, 120, 125), (40, 50, 90), (220, 170, 180),
    (120, 170, 150), (200, 190, 170), (150, 40, 40),
]


def texture_patch(ctx: Image.Image, box, size=(48, 24)) -> Image.Image | None:
    """Cut the mouth/chin area of a with_mask face (very likely mask material)."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    region = (x1 + 0.25 * w, y1 + 0.68 * h, x1 + 0.75 * w, y1 + 0.90 * h)
    region = tuple(int(round(v)) for v in region)
    if region[2] - region[0] < 8 or region[3] - region[1] < 4:
        return None
    if region[0] < 0 or region[1] < 0 or region[2] > ctx.width or region[3] > ctx.height:
        return None
    return ctx.resize(size, Image.BILINEAR, box=region)


def _mask_polygon(box, top, bottom, rng: np.random.Generator) -> list[tuple[float, float]]:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    shift = rng.uniform(-0.04, 0.04)
    ul, ur = rng.uniform(0.02, 0.12) + shift, rng.uniform(0.88, 0.98) + shift
    arc_top = rng.uniform(0.0, 0.06)
    side_bottom = bottom - rng.uniform(0.08, 0.16)
    taper = rng.uniform(0.02, 0.08)
    pts = []
    n = 16
    for i in range(n + 1):  # top edge, left -> right; the centre is higher
        t = i / n
        u = ul + (ur - ul) * t
        v = top + arc_top * (1 - math.sin(math.pi * t))
        pts.append((u, v))
    for i in range(n + 1):  # bottom edge, right -> left; the centre is lower
        t = i / n
        u = (ur - taper) + ((ul + taper) - (ur - taper)) * t
        v = side_bottom + (bottom - side_bottom) * math.sin(math.pi * t)
        pts.append((u, v))
    return [(x1 + u * w, y1 + v * h) for u, v in pts]


def _fill(size: tuple[int, int], rng: np.random.Generator, textures: list[Image.Image]) -> np.ndarray:
    w, h = size
    if textures and rng.random() < 0.6:
        tex = textures[int(rng.integers(len(textures)))]
        if rng.random() < 0.5:
            tex = tex.transpose(Image.FLIP_LEFT_RIGHT)
        arr = np.asarray(tex.resize((w, h), Image.BILINEAR), dtype=np.float32)
    else:
        base = np.array(PALETTE[int(rng.integers(len(PALETTE)))], dtype=np.float32)
        if rng.random() < 0.2:
            base = rng.uniform(20, 240, size=3).astype(np.float32)
        base = np.clip(base * rng.uniform(0.85, 1.15, size=3), 0, 255)
        arr = np.broadcast_to(base, (h, w, 3)).copy()
        if rng.random() < 0.5:  # pleats of a surgical mask
            for k in range(int(rng.integers(2, 4))):
                y = int(h * (0.25 + 0.22 * k + rng.uniform(-0.04, 0.04)))
                th = max(1, h // 40)
                arr[max(0, y - th): y + th] *= rng.uniform(0.75, 0.9)
        arr += rng.normal(0, rng.uniform(1, 8), size=arr.shape).astype(np.float32)
    # shading: darker towards the sides (a curved surface) and a vertical gradient
    xs = np.linspace(-1, 1, w, dtype=np.float32)
    ys = np.linspace(0, 1, h, dtype=np.float32)
    shade = (1 - rng.uniform(0.05, 0.3) * xs ** 2)[None, :] * (1 + rng.uniform(-0.15, 0.15) * (ys - 0.5))[:, None]
    arr = arr * shade[..., None] * rng.uniform(0.75, 1.1)
    return np.clip(arr, 0, 255)


def paint_mask(ctx: Image.Image, box, mode: str, rng: np.random.Generator,
               textures: list[Image.Image]) -> Image.Image:
    """Return a copy of ``ctx`` with a mask painted at the height given by ``mode``."""
    (t_lo, t_hi), (b_lo, b_hi), _ = MODES[mode]
    top, bottom = rng.uniform(t_lo, t_hi), rng.uniform(b_lo, b_hi)
    poly = _mask_polygon(box, top, bottom, rng)
    ss = 4  # supersample the alpha for smooth edges
    alpha = Image.new("L", (ctx.width * ss, ctx.height * ss), 0)
    ImageDraw.Draw(alpha).polygon([(x * ss, y * ss) for x, y in poly], fill=255)
    alpha = alpha.resize(ctx.size, Image.BILINEAR)
    w = box[2] - box[0]
    if rng.random() < 0.6:  # straps towards the ears
        d = ImageDraw.Draw(alpha)
        lw = max(1, int(round(w * rng.uniform(0.012, 0.03))))
        x1, y1, _, y2 = box
        h = y2 - y1
        (lx, ly), (rx, ry) = poly[0], poly[16]
        d.line([(lx, ly), (x1 - 0.02 * w, y1 + 0.45 * h)], fill=230, width=lw)
        d.line([(rx, ry), (box[2] + 0.02 * w, y1 + 0.45 * h)], fill=230, width=lw)
    alpha = alpha.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    a = np.asarray(alpha, dtype=np.float32)[..., None] / 255.0
    fill = _fill(ctx.size, rng, textures)
    out = np.asarray(ctx, dtype=np.float32) * (1 - a) + fill * a
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))
