"""Shared pieces of the tutorial notebooks: the set-up, parameters and state cells, the STAViS
summary and the run-mode note, and the cell constructors ``md`` / ``code``."""
from __future__ import annotations

from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]

#: The GitHub repository (owner/name) and branch that Colab opens and clones: the set-up
#: cell of every notebook and the "Open in Colab" link under each title use them.
GITHUB_REPO = "stavis-tutorial/stavis"
GITHUB_BRANCH = "main"
COLAB_REPO_URL = f"https://github.com/{GITHUB_REPO}.git"

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

SETUP = '''\
# Set-up. Locally (a checkout with `pip install -e .`, or `make setup`) this only imports the
# library. On Colab it clones the repository and installs the library with its light
# requirements; torch, torchvision and torchaudio are Colab's own (not reinstalled).
import subprocess
import sys
from pathlib import Path

if "google.colab" in sys.modules:
    repo = Path("/content/stavis")
    if not repo.exists():
        subprocess.run(["git", "clone", "--depth", "1", "{url}", str(repo)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", f"{{repo}}[notebooks]"], check=True)
    sys.path.insert(0, str(repo))

import stavis_lib

print("stavis_lib", stavis_lib.__version__, "from", Path(stavis_lib.__file__).parent)'''.format(url=COLAB_REPO_URL)

PARAMS_COMMON = '''\
SMOKE = False     # True: tiny data, model and training (CI runs every notebook so, 1-5 min each on 2 CPU cores)
WORK_DIR = None   # folder the notebooks share (data, checkpoints); None: notebooks/_work/{full,smoke}
DEVICE = "auto"   # "auto": CUDA when available (the paper's full-size network), else the CPU (a smaller one)
SEED = 0'''

STATE = '''\
%matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from stavis_lib import viz
from stavis_lib.tutorial import Tutorial

pd.set_option("display.precision", 3)
tut = Tutorial(SMOKE, WORK_DIR, DEVICE, SEED{extra})
print(tut)
print("sizes:", tut.sizes)'''

STAVIS_IN_BRIEF = r"""
**STAViS** (Tsiami, Koutras & Maragos, *STAViS: Spatio-Temporal AudioVisual Saliency Network*,
CVPR 2020) predicts where people look in a video from the frames **and** the soundtrack, with one
network of four parts (Fig. 2 of the paper). The sizes below are the paper's; the notebooks run
exactly that network on a GPU, and a smaller one on a CPU (see *Run modes* below).

1. **Spatio-temporal visual network** (§3.1): a 3D ResNet-50 on 16-frame clips of 112×112 px.
   After each of its first four blocks a *Deeply Supervised Attention Module* (DSAM) turns the
   features $X^m$ into saliency features $S^m$ and an activation $A^m$, whose spatial softmax
   $M^m(x,y) = e^{A^m(x,y)} / \sum_{x,y} e^{A^m(x,y)}$ (eq. 2) re-weights the features:
   $\tilde X^m = (1 + M^m) \odot X^m$ (eq. 1). A 1×1 convolution of $V = (S^1|S^2|S^3|S^4)$
   (4 × 16 = 64 channels) gives the visual map $S^v$.
2. **Audio network** (§3.2): SoundNet's first seven 1-D convolutions on the raw waveform
   (22.05 kHz, a Hann-weighted excerpt centred in a 35 280-sample = 1.6 s window), max-pooled
   over time to $f_a \in \mathbb{R}^{1024}$.
3. **Sound-source localization** (§3.3): the time-pooled conv3 features $f_v$ (a grid of 14×14
   cells at the paper's 112 px; 8×8 for the CPU network at 64 px, 4×4 in `SMOKE` at 32 px) and $f_a$
   are projected to $D_h = 128$ dimensions, $h_a = U_a f_a + b_a$,
   $h_v = U_v f_v + b_v$ (eq. 3), and compared per cell: cosine ($L_1$), weighted inner product
   $L_2^j = \sum_k s^{j,k} h_v^k h_a^k + \beta^j$ (eq. 4) or bilinear
   $L_3^j = h_v^\top M^j h_a + \mu^j$ (eq. 5), giving $N_{out} = 64$ localization maps.
4. **Audio-visual fusion** (§3.4): the proposed $S_3^{av} = W_{cat} * (V | L) + \beta_{av}$
   concatenates the 64 visual feature maps and the 64 localization maps.

Training in the paper (§3.5-3.6): first the visual network with deep supervision (eq. 6), then
the whole network end to end (eq. 7), each map scored with $\mathcal{D} = 0.1\,\mathcal{D}_{CE} +
2\,\mathcal{D}_{CC} + 1\,\mathcal{D}_{NSS}$ (eq. 11), SGD with momentum 0.9, weight decay $10^{-5}$
and an effective batch of 128 clips (the official code: 32 clips on each of 4 GPUs), from
Kinetics and SoundNet weights. The notebooks train far less, on synthetic data and with the visual
network from scratch, using the `cpu_demo` preset: batches of 8 clips on a CPU (32 on a GPU) and a
few hundred steps per stage.
""".strip()

MODES = r"""
**Run modes.** `SMOKE = True` (what CI runs) shrinks data, network and training so that each
notebook runs in one to five minutes on two CPU cores: the numbers it prints are not meaningful. With
`SMOKE = False` the notebooks use the paper's full-size network (3D ResNet-50, 112×112 px) on a
GPU (`DEVICE="auto"` picks CUDA when present) and a smaller network (3D ResNet-10, 64×64 px) on a
CPU, both with a short training budget (the `cpu_demo` preset), not the paper's. The notebooks
share a working folder (`WORK_DIR`, by default `notebooks/_work/full`), so 02 reuses the data of
01 and 03 the network of 02; each one also runs on its own and creates what it needs. Delete a run
folder (or set `RETRAIN = True` in notebooks 02-04) to train again.
""".strip()


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text: str, tags: list[str] | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(text.strip("\n"))
    cell.metadata["tags"] = list(tags or [])
    return cell


def common(params_extra: str = "", state_extra: str = "") -> list[nbformat.NotebookNode]:
    return [
        code(SETUP),
        md("### Parameters\nCI executes the notebooks with papermill and `SMOKE=True`; set your own values here."),
        code(PARAMS_COMMON + ("\n" + params_extra if params_extra else ""), tags=["parameters"]),
        code(STATE.format(extra=state_extra)),
    ]


def overview(learn: list[str], cpu: str, gpu: str, smoke: str) -> str:
    """The box at the top of a notebook: what the student will learn and how long a run takes
    (full CPU mode, a GPU runtime, and ``SMOKE``). Times are measured, not guessed: write
    "not measured" rather than a number nobody ran."""
    items = "\n".join(f"> - {line}" for line in learn)
    return (f"> **You will learn**\n>\n{items}\n>\n"
            f"> **How long it takes:** CPU (full mode) {cpu} · GPU {gpu} · `SMOKE=True` {smoke}")
