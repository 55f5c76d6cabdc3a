"""Step 3: export to a single-file ONNX (opset 17, no external data) and check it against torch."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from .model import MaskNet, WithSoftmax

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ort_session(path: Path, threads: int = 1) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def export(final_pt: Path, onnx_path: Path) -> dict:
    """Write ``onnx_path`` (skip if it exists and is newer than the weights). Returns graph facts."""
    st = torch.load(final_pt, weights_only=False)
    cfg = st["config"]
    net = MaskNet(tuple(cfg["widths"]), cfg["dropout"])
    net.load_state_dict(st["model"])
    model = WithSoftmax(net).eval()
    size = cfg["input_size"]
    if not (onnx_path.exists() and onnx_path.stat().st_mtime >= final_pt.stat().st_mtime):
        tmp = onnx_path.with_suffix(".tmp.onnx")
        torch.onnx.export(
            model, (torch.zeros(1, 3, size, size),), str(tmp), dynamo=False, opset_version=OPSET,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}}, do_constant_folding=True,
        )
        tmp.replace(onnx_path)
    m = onnx.load(str(onnx_path))
    onnx.checker.check_model(m)
    external = [t.name for t in m.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert not external, f"external data in the exported model: {external[:3]}"
    assert not list(onnx_path.parent.glob(onnx_path.name + ".data")), "unexpected .onnx.data file"
    ops = sorted({n.op_type for n in m.graph.node})
    opset = max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
    assert opset <= OPSET, opset

    # the ONNX graph must agree with torch
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, size=(8, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = ort_session(onnx_path).run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    diff = float(np.abs(ref - got).max())
    assert diff < 1e-4, f"onnxruntime and torch disagree by {diff}"
    return {"opset": opset, "ops": ops, "max_abs_diff_vs_torch": diff, "bytes": onnx_path.stat().st_size,
            "sha256": sha256_file(onnx_path), "input_size": size, "config": cfg}


SELF_TEST_FORMULA = "x[0][c][y][x] = ((7*c + 3*y + x) % 17) / 8 - 1   (c, y, x from 0; batch 1)"


def self_test_input(size: int) -> np.ndarray:
    c, y, x = np.meshgrid(np.arange(3), np.arange(size), np.arange(size), indexing="ij")
    return (((7 * c + 3 * y + x) % 17) / 8.0 - 1.0).astype(np.float32)[None]


def self_test(onnx_path: Path, size: int) -> dict:
    """A fixed input and the output onnxruntime gives, for the door's load-time self-test."""
    out = ort_session(onnx_path).run([OUTPUT_NAME], {INPUT_NAME: self_test_input(size)})[0][0]
    return {"input": SELF_TEST_FORMULA, "expected_probabilities": [round(float(v), 6) for v in out],
            "tolerance": 1e-4}
