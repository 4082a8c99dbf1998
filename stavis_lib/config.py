"""Model configuration and the registry of every variant of Table 1 (STAViS, CVPR 2020).

``ModelConfig`` holds every architectural choice of §3 as a plain value, so that a
checkpoint can store the dict that built its model. ``VARIANTS`` names every row of
Table 1; ``make_config(name, **overrides)`` turns a row into a ``ModelConfig``
(:func:`stavis_lib.model.build_model` builds the network from it).

Variant naming (Table 1 row -> key):

========================  ====================  ============  ===========  =========
Table 1 row               key                   localization  n_loc_maps   fusion
========================  ====================  ============  ===========  =========
Visual                    ``visual``            None          -            visual
L_1 AudioOnly             ``L1_audio_only``     L1 (cosine)   1            audio_only
L_2 AudioOnly             ``L2_audio_only``     L2 (eq. 4)    1            audio_only
L_3 AudioOnly             ``L3_audio_only``     L3 (eq. 5)    1            audio_only
L_i - S_1^av              ``L{i}_S1``           L{i}          1            S1
L_i - S_2^av              ``L{i}_S2``           L{i}          1            S2
L_3^mul - S~_2^av         ``L3mul_S2tilde``     L3            64           S2tilde
L_3^mul - S_3^av (STAViS) ``L3mul_S3``          L3            64           S3
L_3^mul - S_fus^av        ``L3mul_Sfus``        L3            64           Sfus
========================  ====================  ============  ===========  =========

"mul" means N_out = 64 localization maps (§3.3); the others use a single map.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

#: Bottleneck/BasicBlock counts of layer1..layer3 per depth (Hara et al. 3D ResNets; no layer4).
BLOCKS_PER_DEPTH: dict[int, tuple[int, int, int]] = {
    10: (1, 1, 1),
    18: (2, 2, 2),
    34: (3, 4, 6),
    50: (3, 4, 6),
    101: (3, 4, 23),
}
LOCALIZATIONS = (None, "L1", "L2", "L3")
FUSIONS = ("visual", "audio_only", "S1", "S2", "S2tilde", "S3", "Sfus")
VISUAL_POOLS = ("center", "mean")


@dataclass
class ModelConfig:
    """Every architectural choice of STAViS (§3, Tables 4-5).

    Attributes:
        variant: the Table-1 row this config came from (informative; the fields below decide).
        depth: 3D ResNet depth (10, 18, 34: BasicBlock; 50, 101: Bottleneck with expansion 4).
        shortcut: "A" (zero-padded identity) or "B" (1x1x1 conv + BN) residual shortcut.
        width: conv1 channels; layer1..3 use width * (1, 2, 4) planes. 64 = the official network.
        sample_size: nominal input height = width (112 officially); the network accepts any
            size divisible by 16.
        sample_duration: nominal frames per clip (16 officially); any length works.
        dsam_channels: channels of each DSAM saliency feature map S^m (16 officially).
        localization: None (visual only), "L1" cosine, "L2" weighted inner product (eq. 4),
            "L3" bilinear (eq. 5).
        n_loc_maps: number of localization maps K (1, or N_out = 64 for the "mul" variants).
        hidden_dim: D_h of the affine re-projections of eq. (3).
        fusion: "visual", "audio_only", "S1", "S2", "S2tilde", "S3" or "Sfus" (§3.4).
        visual_pool: temporal pooling of X^3 for the localization (f_v of §3.3).
            "center" averages the two central time steps, as the official code does
            (so official checkpoints reproduce); "mean" averages all time steps, as the
            paper's text says.
        projection_relu: a ReLU after each affine re-projection of eq. (3), h = ReLU(U f + b).
            The official code applies it (so official checkpoints reproduce); the paper's eq. (3)
            has none (False).
    """

    variant: str = "L3mul_S3"
    depth: int = 50
    shortcut: str = "B"
    width: int = 64
    sample_size: int = 112
    sample_duration: int = 16
    dsam_channels: int = 16
    localization: str | None = "L3"
    n_loc_maps: int = 64
    hidden_dim: int = 128
    fusion: str = "S3"
    visual_pool: str = "center"
    projection_relu: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field when the combination cannot be built."""
        if self.depth not in BLOCKS_PER_DEPTH:
            raise ValueError(f"ModelConfig.depth={self.depth!r}: expected one of {sorted(BLOCKS_PER_DEPTH)}")
        if self.shortcut not in ("A", "B"):
            raise ValueError(f"ModelConfig.shortcut={self.shortcut!r}: expected 'A' or 'B'")
        for name in ("width", "sample_size", "sample_duration", "dsam_channels", "n_loc_maps", "hidden_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ModelConfig.{name}={value!r}: expected a positive int")
        if self.sample_size % 16:
            raise ValueError(f"ModelConfig.sample_size={self.sample_size}: must be divisible by 16")
        if self.localization not in LOCALIZATIONS:
            raise ValueError(f"ModelConfig.localization={self.localization!r}: expected one of {LOCALIZATIONS}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"ModelConfig.fusion={self.fusion!r}: expected one of {FUSIONS}")
        if not isinstance(self.projection_relu, bool):
            raise ValueError(f"ModelConfig.projection_relu={self.projection_relu!r}: expected True or False")
        if self.visual_pool not in VISUAL_POOLS:
            raise ValueError(f"ModelConfig.visual_pool={self.visual_pool!r}: expected one of {VISUAL_POOLS}")
        if (self.fusion == "visual") != (self.localization is None):
            raise ValueError(
                f"ModelConfig: fusion={self.fusion!r} with localization={self.localization!r}; "
                "fusion 'visual' goes with localization None and every other fusion needs a localization"
            )
        if self.localization == "L1" and self.n_loc_maps != 1:
            raise ValueError(f"ModelConfig.n_loc_maps={self.n_loc_maps}: L1 (cosine) gives exactly one map")
        if self.fusion == "S2tilde" and self.n_loc_maps != 4 * self.dsam_channels:
            raise ValueError(
                f"ModelConfig: S2tilde multiplies V^j by L^j one by one, so n_loc_maps ({self.n_loc_maps}) "
                f"must equal the V channels 4*dsam_channels ({4 * self.dsam_channels})"
            )

    @property
    def uses_audio(self) -> bool:
        """True when the network has the audio branch (SoundNet + localization)."""
        return self.localization is not None

    @property
    def blocks(self) -> tuple[int, int, int]:
        return BLOCKS_PER_DEPTH[self.depth]

    @property
    def bottleneck(self) -> bool:
        return self.depth >= 50

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"ModelConfig.from_dict: unknown fields {unknown}")
        return cls(**d)


def _row(localization: str | None, n_loc_maps: int, fusion: str) -> dict[str, Any]:
    return {"localization": localization, "n_loc_maps": n_loc_maps, "fusion": fusion}


#: Every row of Table 1 -> the ModelConfig fields that define it.
VARIANTS: dict[str, dict[str, Any]] = {
    "visual": _row(None, 1, "visual"),
    "L1_audio_only": _row("L1", 1, "audio_only"),
    "L2_audio_only": _row("L2", 1, "audio_only"),
    "L3_audio_only": _row("L3", 1, "audio_only"),
    "L1_S1": _row("L1", 1, "S1"),
    "L2_S1": _row("L2", 1, "S1"),
    "L3_S1": _row("L3", 1, "S1"),
    "L1_S2": _row("L1", 1, "S2"),
    "L2_S2": _row("L2", 1, "S2"),
    "L3_S2": _row("L3", 1, "S2"),
    "L3mul_S2tilde": _row("L3", 64, "S2tilde"),
    "L3mul_S3": _row("L3", 64, "S3"),
    "L3mul_Sfus": _row("L3", 64, "Sfus"),
}


def make_config(variant: str = "L3mul_S3", **overrides: Any) -> ModelConfig:
    """The ``ModelConfig`` of a Table-1 row, with any field overridden."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {sorted(VARIANTS)}")
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"build_model({variant!r}): unknown ModelConfig fields {unknown}")
    values: dict[str, Any] = {"variant": variant, **VARIANTS[variant], **overrides}
    return ModelConfig(**values)

