"""Step 5: the manifest JSON (read by the door) and MODEL_CARD.md (read by people)."""

from __future__ import annotations

import datetime as dt
import json
import platform
from pathlib import Path

from .croprule import CROP_RULE_TEXT, MARGIN, crop_box
from .detect import NMS_IOU, SCORE_THRESHOLD
from .prepare import CTX_FACE_PX, PAD_RETRIES
from .synth import MODES


def reproduce_command(a: dict) -> str:
    opts = (f"--name {a['name']} --version {a['version']} --input-size {a['input_size']} --epochs {a['epochs']} "
            f"--widths {a['widths']} --synth-fraction {a['synth_fraction']} --lr {a['lr']} --seed {a['seed']} "
            f"--val-fraction {a['val_fraction']} --threads {a['threads']} --threshold {a['threshold']}")
    return f"train/train.sh {opts} --publish"


# (frame W, H, face box) -> crop; for unit tests of the door's implementation of the crop rule
CROP_EXAMPLES = [
    (640, 480, (200.0, 100.0, 300.0, 240.0)),
    (640, 480, (10.0, 20.0, 110.0, 150.0)),
    (640, 480, (580.5, 400.25, 639.0, 479.0)),
    (320, 240, (100.2, 50.7, 163.9, 121.3)),
    (100, 100, (0.0, 0.0, 100.0, 100.0)),
]


def crop_examples() -> list[dict]:
    return [{"frame": [w, h], "box": list(b), "crop_ltrb": list(crop_box(b, w, h))} for w, h, b in CROP_EXAMPLES]


def write_manifest(ctx: dict, path: Path, onnx_name: str) -> dict:
    a, g, r = ctx["args"], ctx["graph"], ctx["results"]
    cfg = g["config"]
    size = cfg["input_size"]
    t = r["test"]["all"]
    m = {
        "name": a["name"].rsplit("-v", 1)[0] if "-v" in a["name"] else a["name"],
        "version": a["version"],
        "file": onnx_name,
        "sha256": g["sha256"],
        "bytes": g["bytes"],
        "format": {"type": "onnx", "opset": g["opset"], "operators": g["ops"], "external_data": False},
        "input": {"name": "input", "shape": ["N", 3, size, size], "dtype": "float32", "layout": "NCHW",
                  "size": size, "color_order": "RGB"},
        "preprocess": {
            "pixel_scale": 1 / 255,
            "mean": list(cfg["mean"]),
            "std": list(cfg["std"]),
            "formula": "x[c][y][x] = (pixel[c] / 255 - mean[c]) / std[c], c in R,G,B",
            "exif_orientation": "apply it when reading still images (camera frames have none)",
            "alpha": "dropped (not composited)",
        },
        "output": {"name": "probabilities", "shape": ["N", 2], "softmax_in_graph": True},
        "labels": ["with_mask", "without_mask"],
        "mask_index": 0,
        "decision": {"pass_if": "probabilities[0] >= threshold", "threshold": a["threshold"],
                     "mask_score": "probabilities[0]"},
        "crop": {
            "margin": MARGIN,
            "margin_applies_to": "each side; width margin from box width, height margin from box height",
            "square": "around the expanded box centre, side = longer side of the expanded box",
            "rounding": "floor(v + 0.5) on each edge",
            "clamp": "to the image; no padding (crop is non-square at a border)",
            "resize": "bilinear (triangle filter), antialiased when shrinking: Pillow Image.BILINEAR, "
                      "Rust image::imageops::resize(FilterType::Triangle)",
            "min_side_px": 2,
            "text": CROP_RULE_TEXT,
            "examples": crop_examples(),
        },
        "self_test": ctx["self_test"],
        "detector_for_training_crops": {
            "model": "ultraface-rfb-320.onnx (1x3x240x320 RGB, (px-127)/128, plain bilinear resize of the frame)",
            "score_threshold": SCORE_THRESHOLD, "nms_iou": NMS_IOU, "face": "largest box",
        },
        "metrics": {
            "test_accuracy": t["accuracy"], "test_false_pass_rate": t["false_pass_rate"],
            "test_false_reject_rate": t["false_reject_rate"], "test_confusion": t["confusion"],
            "synthetic_wrong_wear_test": {k: v["accuracy"] for k, v in r["synthetic_test"]["modes"].items()},
            "latency_ms_median_onnxruntime_1_thread": r["latency"]["median_ms"],
        },
        "parameters": ctx["summary"]["parameters"],
        "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "card": "MODEL_CARD.md",
        "reproduce": reproduce_command(a),
    }
    path.write_text(json.dumps(m, indent=2) + "\n")
    return m


# Test errors looked at by a person (file -> what the photo shows); printed in the error table.
REVIEWED = {
    "face11728f1a.jpg": "labelled with_mask, but the mask hangs below the chin: FAIL is the intended rule",
    "3a9248539f52.jpg": "no mask, a hand covers mouth and chin: judged masked",
    "b8845c663304.jpg": "no mask, sunglasses",
    "73ebcebf2476.jpg": "no mask, sunglasses and beard",
    "2cff481e8891.jpg": "no mask, a distorted (stretched) selfie",
    "2e1ba596f491.jpg": "the box covers the upper face only; the mask is at the crop's bottom edge",
    "414ae7a1e66a.jpg": "the box covers the upper face only; the mask is at the crop's bottom edge",
    "60e0a08db946.jpg": "the box covers the upper face only; the mask is at the crop's bottom edge",
}


# How this model was arrived at; keeps the card honest about how often test/ was looked at.
DEVELOPMENT_NOTE = (
    "One earlier configuration was also scored on `test/` (64 px input, 40 epochs, no upper-face box "
    "jitter: 97.74 % accuracy, 0.27 % false-pass, 4.03 % false-reject); its errors led to the 80 px input "
    "and the upper-face box augmentation of this model. So `test/` guided one round of choices, and the "
    "numbers below may be slightly optimistic."
)


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


def _confusion(c: dict) -> str:
    return ("| true \\ judged | PASS (mask) | FAIL (no mask) |\n|---|---:|---:|\n"
            f"| with_mask | {c['with_mask']['pass']} | {c['with_mask']['fail']} |\n"
            f"| without_mask | {c['without_mask']['pass']} | {c['without_mask']['fail']} |\n")


def write_card(ctx: dict, manifest: dict, path: Path) -> None:
    a, rep, summ, g, r = ctx["args"], ctx["report"], ctx["summary"], ctx["graph"], ctx["results"]
    cfg = g["config"]
    t = r["test"]
    c = rep["counts"]

    def cnt(split, label, key="total"):
        return c.get(split, {}).get(label, {}).get(key, 0)

    rows = []
    for split in ("train", "val", "test"):
        for label in ("with_mask", "without_mask"):
            rows.append(f"| {split} | {label} | {cnt(split, label)} | {cnt(split, label, 'detected')} | "
                        f"{cnt(split, label, 'detected_padded')} | {cnt(split, label, 'fallback')} |")
    hist = summ["history"]
    last = hist[-1]
    sweep = "\n".join(f"| {th} | {_pct(v['accuracy'])} | {_pct(v['false_pass_rate'])} | {_pct(v['false_reject_rate'])} |"
                      for th, v in t["threshold_sweep"].items())
    subsets = "\n".join(
        f"| {name} | {v['n']} | {_pct(v['accuracy'])} | {_pct(v['false_pass_rate'])} | {_pct(v['false_reject_rate'])} |"
        for name, v in t.items() if name.startswith("box_") or name in ("all", "face_found"))
    syn_rows = []
    for split in ("synthetic_test", "synthetic_val"):
        for mode, v in r[split]["modes"].items():
            syn_rows.append(f"| {split.split('_')[1]} | {mode} | {v['expected']} | {v['n']} | {v['correct']} | "
                            f"{_pct(v['accuracy'])} |")
    lat = r["latency"]
    errors = t["errors"]
    err_lines = "\n".join(f"| {e['file']} | {e['label']} | {e['p_mask']} | {e['box']} | {REVIEWED.get(e['file'], '')} |"
                          for e in errors[:40])
    mode_text = "\n".join(f"- `{m}`: mask top edge at v = {lo:.2f}–{hi:.2f}, bottom at v = {blo:.2f}–{bhi:.2f} "
                          f"of the face box → trained as **{lab}**"
                          for m, ((lo, hi), (blo, bhi), lab) in MODES.items())
    goals_met = t["all"]["accuracy"] >= 0.98 and t["all"]["false_pass_rate"] <= 0.02 and lat["median_ms"] <= 2
    text = f"""# Model card: {manifest['name']} {manifest['version']} (`{manifest['file']}`)

Generated by `train/` on {manifest['created']}. Manifest: `{a['name']}.json`.
SHA-256 of the ONNX file: `{manifest['sha256']}` ({g['bytes']:,} bytes).

## What it does
Given one face crop (see *Input*), it returns `[P(with_mask), P(without_mask)]`. The door PASSes
when `P(with_mask) >= {a['threshold']}`. A mask below the nose or only on the chin should FAIL: see
*Worn wrong* (trained and measured on **synthetic** examples only).

## Input (what the door must do, exactly)
1. Detect faces (for the numbers below: UltraFace RFB-320, score > {SCORE_THRESHOLD}, NMS IoU {NMS_IOU}, largest face).
2. Crop rule: {CROP_RULE_TEXT}
3. RGB, float32, `x = (pixel / 255 - mean) / std` with mean = {list(cfg['mean'])}, std = {list(cfg['std'])};
   NCHW `[N, 3, {cfg['input_size']}, {cfg['input_size']}]`, input name `input`; output `probabilities` `[N, 2]`,
   softmax inside the graph, labels `["with_mask", "without_mask"]`.
4. Still images: apply the EXIF orientation first; alpha is dropped.

## Model
Compact MobileNet-style CNN (a 3×3 conv, 7 depthwise-separable blocks, widths {list(cfg['widths'])}, global average
pool, dropout {cfg['dropout']}, linear), {summ['parameters']:,} parameters, input {cfg['input_size']}×{cfg['input_size']}.
ONNX opset {g['opset']}, one file, operators: {', '.join(g['ops'])}. onnxruntime matches torch to {g['max_abs_diff_vs_torch']:.1e}.
Trained from scratch (no pretrained weights).

## Data
`shared/data/masks` (from chandrikadeb7/Face-Mask-Detection, MIT repository licence; images gathered from
public web sources: research and test data, not redistributed here). {rep['usable']} of {rep['files_seen']}
files usable, {len(rep['unreadable'])} unreadable{(': ' + ', '.join(u['file'] for u in rep['unreadable'])) if rep['unreadable'] else ''}.
Formats by content: {rep['formats']}; {rep['extension_not_matching_content']} files whose extension did not match their content.

Validation = {int(rep['val_fraction'] * 100)} % of `train/`, stratified by label, seed {rep['seed']}. `test/` is read only for the
final numbers below: never for training, early stopping or the threshold. {DEVELOPMENT_NOTE}

Where the face box came from (`detected`: UltraFace on the photo; `padded`: UltraFace after adding grey
borders {list(PAD_RETRIES)} of the longer side, because many photos are already tight face crops;
`fallback`: no face found, whole photo used):

| split | label | photos | detected | padded | fallback |
|---|---|---:|---:|---:|---:|
{chr(10).join(rows)}

Note the imbalance: most no-mask photos show a face with room around it, many mask photos are cut
tight (the detector often needs the padding). Training randomly zooms in on both classes so that
tightness of the crop is not a cue, but door crops of masked faces (always with a margin) are a
different look from most of the mask photos here. Retraining on the door's own crops
(`edge-agent crops`) is the fix.

## Training
Seed {cfg['seed']}, {cfg['epochs']} epochs, batch {cfg['batch_size']}, AdamW (lr {cfg['lr']}, one-cycle, weight decay {cfg['weight_decay']}),
label smoothing {cfg['label_smoothing']}, torch threads {cfg['threads']}. {summ['train_faces']} real training faces per epoch plus
{cfg['synth_fraction']:.0%} as many synthetic painted-mask faces (mix {cfg['synth_mix']}), freshly drawn each epoch.
Augmentation: detector-box jitter (shift, scale incl. tight zoom, aspect), rotation ±12°, flips, brightness, contrast,
saturation, greyscale, blur, low resolution, JPEG, noise, random resize filter. Context cache: door crop scaled to
≤ {CTX_FACE_PX} px. Training time: {summ['train_seconds_total'] / 60:.1f} min on one CPU thread (niced, shared machine).
Last epoch: train accuracy {_pct(last['train_acc'])}, validation accuracy {_pct(last['val_acc'])},
validation false-pass {_pct(last['val_false_pass'])}, validation synthetic accuracy {_pct(last['val_synthetic_acc'])}.

## Results on `test/` (real photos, {t['all']['n']} faces, threshold {a['threshold']})
Pipeline as the door: UltraFace box (or fallback) → crop rule on the original photo → bilinear resize →
ONNX model in onnxruntime.

- **Accuracy: {_pct(t['all']['accuracy'])}**
- **False-pass rate** (no-mask faces judged masked): **{_pct(t['all']['false_pass_rate'])}**
- **False-reject rate** (masked faces judged no mask): **{_pct(t['all']['false_reject_rate'])}**

{_confusion(t['all']['confusion'])}
By where the face box came from:

| subset | faces | accuracy | false-pass | false-reject |
|---|---:|---:|---:|---:|
{subsets}

Threshold sweep (for information; the shipped threshold was fixed before testing):

| threshold | accuracy | false-pass | false-reject |
|---|---:|---:|---:|
{sweep}

Goals (≥ 98 % accuracy, ≤ 2 % false-pass, ≤ 2 ms per face): **{'met' if goals_met else 'NOT all met'}**.

## Worn wrong (SYNTHETIC — not real photos)
The data has no mask-worn-wrong photos. We paint a mask onto no-mask faces at a chosen height of the face
box (v = 0 top, 1 bottom; eyes ≈ 0.42, nose tip ≈ 0.60, mouth ≈ 0.75, chin ≈ 0.97 for UltraFace boxes):

{mode_text}

Mask look: 60 % a real mask patch cut from a with_mask photo of the same split, else a plain colour with pleats,
noise and shading; straps sometimes. Correct-wear masks are painted the same way so the position, not the
painting, is what separates them. Training uses only train-split faces and textures. The held-out sets below are
painted on the **test** split's no-mask faces with the test split's mask textures (and on validation), each face once per mode.

| split | synthetic mode | expected | n | correct | accuracy |
|---|---|---|---:|---:|---:|
{chr(10).join(syn_rows)}

These numbers say the model learned the rule on painted masks. They do not prove it on real people wearing a
mask under the nose: no such real photos were available. Collect real ones (door crops) before relying on it.

## Latency
onnxruntime {lat['onnxruntime']}, one thread, batch 1, {lat['runs']} runs on this machine's x86-64 CPU (shared with
other jobs, so pessimistic): median **{lat['median_ms']:.3f} ms**, p90 {lat['p90_ms']:.3f} ms, p99 {lat['p99_ms']:.3f} ms per face.
tract-onnx was not measured here (DATA.md saw onnxruntime 1–4× faster than tract on other models).

## Limits
- Web photos, mostly frontal, many with pasted-on masks; not door-camera footage (angle, light, IR, motion blur).
- Worn-wrong detection is learned from synthetic paintings only (see above).
- A hand over the mouth can pass as a mask (one such test photo passed with P = 0.93); scarves and veils were
  not studied. Sunglasses appear in two of the false passes.
- For many masked faces UltraFace boxes only the upper face (eyes to nose), so the mask sits at the crop's
  bottom edge; several false rejects are such crops. Training simulates these boxes, but the rule "mask too
  low = FAIL" and "box too high" pull in opposite directions; a detector that boxes whole masked faces helps.
- The faces' demographics were not measured; error rates per group are unknown.
- Crops must follow the crop rule; other margins or detectors shift the input (training jitters the box:
  shift, 0.65–1.18 scale, aspect, and sometimes an upper-face box as UltraFace gives for many masked faces).
- {len(errors)} test errors at the shipped threshold{':' if errors else '.'}

{('| file | label | P(with_mask) | box | note |' + chr(10) + '|---|---|---:|---|---|' + chr(10) + err_lines) if errors else ''}
{'(first 40 shown; all are in `eval.json`)' if len(errors) > 40 else ''}

## Reproduce
From the repository root, with `../shared` present:

```sh
{manifest['reproduce']}
```

{'`train/train.sh --publish` with no other options gives the same (they are the defaults).' if a.get('defaults_used') else ''} Python {platform.python_version()}, packages pinned in
`train/requirements.txt`. Bit-exact weights need the same torch build and CPU; numbers should repeat closely.
"""
    path.write_text(text)
