"""Building blocks shared by the small CPU-default detector and embedder backbones."""
from __future__ import annotations

from torch import nn


def conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """3x3 convolution (no bias: the batch norm's shift replaces it), batch norm, ReLU.

    Checkpoints name the parts ``<block>.0`` (conv) and ``<block>.1`` (batch norm); keep the order.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )
