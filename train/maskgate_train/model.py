"""A compact MobileNet-style CNN (depthwise-separable convolutions), ~70k parameters.

Only Conv, BatchNorm (folded into Conv at export), Relu, GlobalAveragePool, Flatten, Gemm and
Softmax appear in the exported graph: operators tract-onnx and onnxruntime both run.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def dw_sep(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class MaskNet(nn.Module):
    """Logits [N, 2] for label order (with_mask, without_mask)."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 48, 48, 96, 96, 160, 160), dropout: float = 0.2):
        super().__init__()
        w = widths
        self.features = nn.Sequential(
            conv_bn(3, w[0], 2),
            dw_sep(w[0], w[1], 1),
            dw_sep(w[1], w[2], 2),
            dw_sep(w[2], w[3], 1),
            dw_sep(w[3], w[4], 2),
            dw_sep(w[4], w[5], 1),
            dw_sep(w[5], w[6], 2),
            dw_sep(w[6], w[7], 1),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(w[7], 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)))


class WithSoftmax(nn.Module):
    """What is exported: probabilities, softmax inside the graph."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
