"""§3.1 Spatio-temporal visual network: 3D ResNet trunk (Table 4) and DSAM, eq. (1)-(2).

The trunk follows Hara et al.'s 3D ResNets (the Kinetics-pretrained backbone of STAViS):
conv1 7x7x7 stride (1,2,2) padding 3 without bias, BN, ReLU, max-pool 3x3x3 stride 2
padding 1, then layer1 (stride 1), layer2 (stride 2) and layer3 (stride 2); there is no
layer4. Depths 10/18/34 use the BasicBlock, 50/101 the Bottleneck (expansion 4).

DSAM (Deeply Supervised Attention Module, Fig. 3) at level m in {0..3} (after conv1,
layer1, layer2, layer3) averages X^m over time, computes 16-channel saliency features
S^m (3x3 conv) and a one-channel activation A^m (1x1 conv of S^m), upsamples both to the
input size with learned deconvolutions initialised as bilinear interpolation, and
re-weights the trunk with the spatial softmax M^m of A^m: X~^m = (1 + M^m) * X^m.

Upsampling geometry: the level-m deconvolution has stride f = 2^(m+1), kernel 2f and
padding f/2, so an h x w map becomes exactly (f h) x (f w) — the input size whenever the
input side is divisible by 16. With the bilinear initial kernel this equals
``F.interpolate(scale_factor=f, mode="bilinear", align_corners=False)`` away from the
border (the official code gets the same alignment by centre-cropping an unpadded output).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

DSAM_BIAS_INIT = -6.0  # initial bias of the activation conv A^m (official init)


def bilinear_kernel(size: int) -> Tensor:
    """(size, size) kernel of bilinear interpolation for a stride size//2 deconvolution."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    ramp = 1.0 - (torch.arange(size, dtype=torch.float64) - center).abs() / factor
    return (ramp[:, None] * ramp[None, :]).float()


def init_bilinear_(deconv: nn.ConvTranspose2d) -> None:
    """Initialise a square, channel-preserving deconvolution as per-channel bilinear upsampling."""
    out_c, in_c, kh, kw = deconv.weight.shape
    if in_c != out_c or kh != kw:
        raise ValueError(f"bilinear init needs a square channel-preserving kernel, got {tuple(deconv.weight.shape)}")
    with torch.no_grad():
        deconv.weight.zero_()
        kernel = bilinear_kernel(kh)
        for c in range(in_c):
            deconv.weight[c, c] = kernel


def spatial_softmax(a: Tensor) -> Tensor:
    """Eq. (2): M(x,y) = exp(A(x,y)) / sum_xy exp(A(x,y)) for A of shape (B,1,h,w)."""
    b, c, h, w = a.shape
    return torch.softmax(a.reshape(b, c, h * w), dim=-1).reshape(b, c, h, w)


def temporal_mean(x: Tensor) -> Tensor:
    """Average over time: (B,C,T,h,w) -> (B,C,h,w), keeping the memory format.

    For channels-last-3d input the reduction runs on the (B,T,h,w,C) view: ``x.mean(2)`` on
    those strides picks a strided CPU kernel that is ~6x slower and returns NCHW memory.
    Same values either way.
    """
    if x.dim() == 5 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last_3d):
        return x.permute(0, 2, 3, 4, 1).mean(dim=1).permute(0, 3, 1, 2)
    return x.mean(dim=2)


def conv3x3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv3d:
    return nn.Conv3d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class ZeroPadShortcut(nn.Module):
    """Shortcut "A": strided identity, zero-padded to the new channel count (no parameters)."""

    def __init__(self, out_planes: int, stride: int) -> None:
        super().__init__()
        self.out_planes = out_planes
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride, :: self.stride]
        pad = self.out_planes - x.shape[1]
        return F.pad(x, (0, 0, 0, 0, 0, 0, 0, pad)) if pad > 0 else x


class BasicBlock(nn.Module):
    """3D ResNet basic block: two 3x3x3 convolutions (depths 10, 18, 34)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = conv3x3x3(planes, planes)
        self.bn2 = nn.BatchNorm3d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += residual  # in place: saves a full-size allocation (autograd-safe: BN/conv backward need no output)
        return self.relu(out)


class Bottleneck(nn.Module):
    """3D ResNet bottleneck (Fig. 7): 1x1x1 -> 3x3x3 (strided) -> 1x1x1 x4 channels."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = conv3x3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += residual  # in place, as in BasicBlock
        return self.relu(out)


class ResNet3DTrunk(nn.Module):
    """conv1 .. layer3 of a 3D ResNet (Table 4). Parameter names match Hara's checkpoints."""

    def __init__(self, depth: int, blocks: tuple[int, int, int], width: int = 64, shortcut: str = "B") -> None:
        super().__init__()
        block = Bottleneck if depth >= 50 else BasicBlock
        self.shortcut = shortcut
        self.conv1 = nn.Conv3d(3, width, kernel_size=7, stride=(1, 2, 2), padding=3, bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1)
        self._inplanes = width
        self.layer1 = self._make_layer(block, width, blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 2 * width, blocks[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, blocks[2], stride=2)
        #: channels of X^m at the four DSAM levels (conv1, layer1, layer2, layer3)
        self.level_channels = (width, width * block.expansion, 2 * width * block.expansion, 4 * width * block.expansion)
        self._init_weights()

    def _make_layer(self, block: type[nn.Module], planes: int, n_blocks: int, stride: int) -> nn.Sequential:
        out_planes = planes * block.expansion  # type: ignore[attr-defined]
        downsample: nn.Module | None = None
        if stride != 1 or self._inplanes != out_planes:
            if self.shortcut == "A":
                downsample = ZeroPadShortcut(out_planes, stride)
            else:
                downsample = nn.Sequential(
                    nn.Conv3d(self._inplanes, out_planes, kernel_size=1, stride=stride, bias=False),
                    nn.BatchNorm3d(out_planes),
                )
        layers = [block(self._inplanes, planes, stride, downsample)]
        self._inplanes = out_planes
        layers += [block(out_planes, planes) for _ in range(1, n_blocks)]
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


class DSAM(nn.Module):
    """Deeply Supervised Attention Module at one level (Fig. 3, eq. 1-2).

    Official key names (``score_dsn.{m}.*``): side_prep -> ``saliency_conv`` (S^m),
    score_dsn -> ``activation_conv`` (A^m), upscale_ -> ``up_activation``, upscale -> ``up_saliency``.
    """

    def __init__(self, in_channels: int, factor: int, channels: int = 16) -> None:
        super().__init__()
        if factor % 2:
            raise ValueError(f"DSAM upsampling factor must be even, got {factor}")
        self.factor = factor
        self.saliency_conv = nn.Conv2d(in_channels, channels, kernel_size=3, padding=1)
        self.activation_conv = nn.Conv2d(channels, 1, kernel_size=1)
        deconv = dict(kernel_size=2 * factor, stride=factor, padding=factor // 2, bias=False)
        self.up_activation = nn.ConvTranspose2d(1, 1, **deconv)
        self.up_saliency = nn.ConvTranspose2d(channels, channels, **deconv)
        for conv in (self.saliency_conv, self.activation_conv):
            nn.init.normal_(conv.weight, 0.0, 0.001)
            nn.init.zeros_(conv.bias)
        nn.init.constant_(self.activation_conv.bias, DSAM_BIAS_INIT)
        init_bilinear_(self.up_activation)
        init_bilinear_(self.up_saliency)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """x: (B,C,T,h,w) -> (X~ (B,C,T,h,w), S^m up (B,16,fh,fw), A^m up (B,1,fh,fw), M^m (B,1,h,w))."""
        s_up, a_up, m = self.attention(temporal_mean(x))  # temporal average pooling
        x_tilde = (1.0 + m.unsqueeze(2)) * x  # eq. (1), broadcast over channels and time
        return x_tilde, s_up, a_up, m

    def attention(self, pooled: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """From the time-averaged features (B,C,h,w): (S^m up, A^m up, M^m) of eq. (2)."""
        s = self.saliency_conv(pooled)
        a = self.activation_conv(s)
        return self.up_saliency(s), self.up_activation(a), spatial_softmax(a)
