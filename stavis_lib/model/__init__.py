"""STAViS network (§3): visual trunk + DSAM, SoundNet-8, localization, fusion, checkpoints."""
from stavis_lib.model.stavis import PARTS, STAGES, Stavis, StavisOutput

__all__ = ["PARTS", "STAGES", "Stavis", "StavisOutput"]
