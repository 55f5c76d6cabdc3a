"""UltraFace RFB-320 face detector via onnxruntime (the development stand-in for the door's detector)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

DEFAULT_DETECTOR = Path(__file__).resolve().parents[3] / "shared" / "models" / "ultraface-rfb-320.onnx"

SCORE_THRESHOLD = 0.7
NMS_IOU = 0.3


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Greedy non-maximum suppression; returns kept indices, best score first."""
    order = np.argsort(-scores)
    keep: list[int] = []
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = (xx2 - xx1).clip(0) * (yy2 - yy1).clip(0)
        union = areas[i] + areas[rest] - inter
        ious = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        order = rest[ious <= iou]
    return keep


class UltraFace:
    """Input 1x3x240x320 RGB, (px-127)/128; outputs scores [1,N,2], boxes [1,N,4] in 0..1."""

    def __init__(self, path: str | Path = DEFAULT_DETECTOR):
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.log_severity_level = 3  # the shared model has initializers listed as inputs: harmless warnings
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def detect(self, img: Image.Image) -> list[tuple[float, tuple[float, float, float, float]]]:
        """All faces as (score, (x1, y1, x2, y2) in pixels of ``img``, clipped), after NMS."""
        x = np.asarray(img.resize((320, 240), Image.BILINEAR), dtype=np.float32)
        x = ((x - 127.0) / 128.0).transpose(2, 0, 1)[None]
        outs = dict(zip([o.name for o in self.session.get_outputs()],
                        self.session.run(None, {self.input_name: x})))
        scores = outs["scores"][0, :, 1]
        boxes = outs["boxes"][0]
        mask = scores > SCORE_THRESHOLD
        scores, boxes = scores[mask], boxes[mask]
        faces = []
        for i in nms(boxes, scores, NMS_IOU):
            x1, y1, x2, y2 = boxes[i].tolist()
            b = (max(0.0, x1) * img.width, max(0.0, y1) * img.height,
                 min(1.0, x2) * img.width, min(1.0, y2) * img.height)
            if b[2] - b[0] >= 2 and b[3] - b[1] >= 2:
                faces.append((float(scores[i]), b))
        return faces

    def largest_face(self, img: Image.Image):
        faces = self.detect(img)
        if not faces:
            return None
        return max(faces, key=lambda f: (f[1][2] - f[1][0]) * (f[1][3] - f[1][1]))
