"""§3.2 Audio representation network: SoundNet-8 conv1..conv7 (Table 5) + temporal max-pool.

The 1-D convolutions are written as Conv2d with (1, k) kernels over a (B, 1, 1, N)
waveform, so the ``soundnet8.<idx>`` parameter names and shapes are those of the official
``nn.Sequential`` (indices 0..23; the official index 24, MaxPool(1,2), is replaced here by a
global max over time, which gives the same (B,1024) result for the official 35280-sample
window, where conv7 has exactly two time steps, and works for any longer input).

Input: 22.05 kHz mono on the SoundNet scale (int16 / 128, about +-256).
"""
from __future__ import annotations

from torch import Tensor, nn

#: (in, out, kernel, stride, padding, max-pool after ReLU or 0) for conv1..conv7 (Table 5)
SOUNDNET8_LAYERS: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 16, 64, 2, 32, 8),
    (16, 32, 32, 2, 16, 8),
    (32, 64, 16, 2, 8, 0),
    (64, 128, 8, 2, 4, 0),
    (128, 256, 4, 2, 2, 4),
    (256, 512, 4, 2, 2, 0),
    (512, 1024, 4, 2, 2, 0),
)
AUDIO_DIM = 1024  # D_a


def soundnet_output_length(n_samples: int) -> int:
    """Number of conv7 time steps for an input of ``n_samples`` (<= 0: too short)."""
    length = n_samples
    for _, _, kernel, stride, padding, pool in SOUNDNET8_LAYERS:
        length = (length + 2 * padding - kernel) // stride + 1
        if pool:
            length = length // pool
        if length < 1:
            return 0
    return length


def min_audio_length() -> int:
    """Smallest number of samples for which conv7 has at least one time step."""
    n = 1
    while soundnet_output_length(n) < 1:
        n += 1
    return n


def _conv_index_map() -> list[int]:
    """Index in the official Sequential of each conv layer (0, 4, 8, 11, 14, 18, 21)."""
    idx, out = 0, []
    for *_, pool in SOUNDNET8_LAYERS:
        out.append(idx)
        idx += 3 + (1 if pool else 0)
    return out


SOUNDNET8_CONV_INDICES: tuple[int, ...] = tuple(_conv_index_map())


class SoundNet8(nn.Module):
    """SoundNet conv1..conv7 + BN + ReLU (+ pools after conv1, conv2, conv5), then max over time."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out, kernel, stride, padding, pool in SOUNDNET8_LAYERS:
            layers += [
                nn.Conv2d(c_in, c_out, kernel_size=(1, kernel), stride=(1, stride), padding=(0, padding)),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
            if pool:
                layers.append(nn.MaxPool2d(kernel_size=(1, pool)))
        self.soundnet8 = nn.Sequential(*layers)
        self.min_length = min_audio_length()

    @staticmethod
    def as_waveform_batch(audio: Tensor) -> Tensor:
        """(B,N) | (B,1,N) | (B,1,1,N) -> (B,1,1,N)."""
        if audio.dim() == 2:
            return audio[:, None, None, :]
        if audio.dim() == 3 and audio.shape[1] == 1:
            return audio[:, None]
        if audio.dim() == 4 and audio.shape[1] == 1 and audio.shape[2] == 1:
            return audio
        raise ValueError(f"audio must have shape (B,N), (B,1,N) or (B,1,1,N); got {tuple(audio.shape)}")

    def features(self, audio: Tensor) -> Tensor:
        """conv7 feature maps (B, 1024, T') after BN and ReLU."""
        wave = self.as_waveform_batch(audio)
        if wave.shape[-1] < self.min_length:
            raise ValueError(
                f"audio has {wave.shape[-1]} samples; SoundNet-8 needs at least {self.min_length} "
                "(the official window is 35280 samples at 22.05 kHz)"
            )
        return self.soundnet8(wave).squeeze(2)

    def forward(self, audio: Tensor) -> Tensor:
        """f_a in R^1024 per sample: temporal max-pool of the conv7 features, (B, 1024)."""
        return self.features(audio).amax(dim=-1)
