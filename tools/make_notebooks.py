"""Write the five tutorial notebooks (notebooks/01…05) from the cell sources in this file.

The notebooks are generated, so that they are reproducible and reviewable as plain Python:
edit the cells here, then run

    .venv/bin/python tools/make_notebooks.py            # writes notebooks/*.ipynb (outputs cleared)
    .venv/bin/python tools/make_notebooks.py --check    # exits 1 if a notebook differs from this file

Every notebook has the same first three code cells: the Colab/local set-up, the papermill
``parameters`` cell (``SMOKE`` etc.; CI passes ``SMOKE=True``) and the ``Tutorial`` state that
picks the device and the sizes. Work is done by ``stavis_lib`` (``stavis_lib.tutorial.Tutorial``
and the modules it calls; figures from ``stavis_lib.viz``); the notebooks hold narrative,
parameters and plots.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "notebooks"

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
SMOKE = False     # True: tiny data, model and training (CI runs every notebook so, ~1-2 min on 2 CPU cores)
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
network of four parts (Fig. 2 of the paper):

1. **Spatio-temporal visual network** (§3.1): a 3D ResNet-50 on 16-frame clips of 112×112 px.
   After each of its first four blocks a *Deeply Supervised Attention Module* (DSAM) turns the
   features $X^m$ into saliency features $S^m$ and an activation $A^m$, whose spatial softmax
   $M^m(x,y) = e^{A^m(x,y)} / \sum_{x,y} e^{A^m(x,y)}$ (eq. 2) re-weights the features:
   $\tilde X^m = (1 + M^m) \odot X^m$ (eq. 1). A 1×1 convolution of $V = (S^1|S^2|S^3|S^4)$
   (4 × 16 = 64 channels) gives the visual map $S^v$.
2. **Audio network** (§3.2): SoundNet's first seven 1-D convolutions on the raw waveform
   (22.05 kHz, a Hann-weighted excerpt centred in a 35 280-sample = 1.6 s window), max-pooled
   over time to $f_a \in \mathbb{R}^{1024}$.
3. **Sound-source localization** (§3.3): the time-pooled conv3 features $f_v$ (14×14 cells at
   112 px) and $f_a$ are projected to $D_h = 128$ dimensions, $h_a = U_a f_a + b_a$,
   $h_v = U_v f_v + b_v$ (eq. 3), and compared per cell: cosine ($L_1$), weighted inner product
   $L_2^j = \sum_k s^{j,k} h_v^k h_a^k + \beta^j$ (eq. 4) or bilinear
   $L_3^j = h_v^\top M^j h_a + \mu^j$ (eq. 5), giving $N_{out} = 64$ localization maps.
4. **Audio-visual fusion** (§3.4): the proposed $S_3^{av} = W_{cat} * (V | L) + \beta_{av}$
   concatenates the 64 visual feature maps and the 64 localization maps.

Training (§3.5-3.6): first the visual network with deep supervision (eq. 6), then the whole network
end to end (eq. 7), each map scored with $\mathcal{D} = 0.1\,\mathcal{D}_{CE} + 2\,\mathcal{D}_{CC}
+ 1\,\mathcal{D}_{NSS}$ (eq. 11), SGD with momentum 0.9, weight decay $10^{-5}$, an effective
batch of 128 clips.
""".strip()

MODES = r"""
**Run modes.** `SMOKE = True` (what CI runs) shrinks everything to seconds on two CPU cores: the
numbers it prints are not meaningful. With `SMOKE = False` the notebooks use the paper's
full-size network on a GPU (`DEVICE="auto"` picks CUDA when present) and a smaller network
(3D ResNet-10, 64×64 px) on a CPU. The notebooks share a working folder (`WORK_DIR`, by default
`notebooks/_work/full`), so 02 reuses the data of 01 and 03 the network of 02; each one also runs
on its own and creates what it needs. Delete a run folder (or set `RETRAIN = True`) to train again.
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


# ======================================================================================
# 01 data preparation
# ======================================================================================
NB01 = [
    md(f"""
# 01 · Data preparation: the release layout, the synthetic benchmark, real gaze data

{STAVIS_IN_BRIEF}

This notebook prepares and explains the **data**: the file layout of the official STAViS data
release, the synthetic audio-visual eye-tracking benchmark that this repository generates in that
layout, frames with fixations and dense maps, the Hann-weighted audio window the audio network
sees, the three splits of the paper's Table 6 and, when a copy is available, real DIEM eye-tracking
data converted to maps.

{MODES}
"""),
    *common(),
    md(r"""
## 1 · The official release layout

The official data release (six databases: DIEM, Coutrot1, Coutrot2, AVAD, SumMe, ETMD) stores
everything as files that the training and test code read frame by frame:

```
video_frames/<db>/<video>/img_%05d.jpg            RGB frames, 1-based
video_audio/<db>/<video>/<video>.wav               the soundtrack
annotations/<db>/<video>/maps/eyeMap_%05d.jpg      dense maps Y_den (fixations blurred by a Gaussian)
annotations/<db>/<video>/fixMap_%05d.mat           fixation maps Y_fix (MATLAB, key "eyeMap")
fold_lists/<db>_list_{train,test}_<k>_fps.txt      one line per video: "name n_frames fps"
```

No public eye-tracking video data can be downloaded where this repository is built, so its default
data is a **synthetic benchmark** generated in exactly this layout (the same readers serve it and
the real release): 2-4 moving objects of distinct classes per video, each class with its own
sound; one object sounds at a time, and an object looks the same whether it sounds or not, so only
the sound tells which one the simulated viewers look at. The generator also writes an `.mp4` with
sound per video and the gaze of every simulated viewer (`gaze/<db>/<video>.npz`).
"""),
    code("""
root = tut.ensure_synthetic()   # generates the benchmark the first time (seconds to a minute)
viz.layout_summary(root)
"""),
    code("""
from stavis_lib.data.layout import ReleaseLayout

layout = ReleaseLayout(root)
test_list = layout.fold_list_path("Synthetic", "test", 1)
print(test_list.relative_to(root))
print(test_list.read_text())
"""),
    md(r"""
## 2 · Frames, fixations and dense maps

For every frame the ground truth is a binary **fixation map** $Y_{fix} \in \{0,1\}^{N_X \times N_Y}$
(the pixels where some viewer fixated) and a **dense map** $Y_{den} \in [0,1]^{N_X \times N_Y}$,
the fixation map convolved with a Gaussian (here σ = 5 % of the frame width, 8 px at 160 px) and
max-normalised. The losses of §3.5 use both: cross-entropy and CC compare the prediction with
$Y_{den}$ (eqs. 8-9), NSS reads the standardised prediction at the fixations of $Y_{fix}$ (eq. 10).
Below: the frames of a test video with the fixations (red dots), and the dense maps.
"""),
    code("""
video = tut.test_videos(1)[0].name
frames = tut.frames(video)
dense, fix = tut.ground_truth(video)
print(f"{video}: {len(frames)} frames of {frames.shape[2]}x{frames.shape[1]} px, "
      f"{fix.reshape(len(fix), -1).sum(1).mean():.1f} fixated pixels per frame on average")
idx = np.linspace(0, len(frames) - 1, 5).astype(int)
viz.plot_saliency_rows(frames, {"dense map": dense}, fixations=fix, frame_indices=idx);
"""),
    md(r"""
Each simulated viewer's gaze is kept, so the notebooks can also score a *human* baseline (each
viewer predicted from the others). The timeline shows the bursts of sound: after an onset most
viewers saccade to the sounding object with a latency of about 220 ms.
"""),
    code("""
from stavis_lib.data.maps import gaze_path, read_gaze_npz

gaze = read_gaze_npz(gaze_path(root, "Synthetic", video))
print("gaze arrays:", {k: np.shape(v) for k, v in gaze.items()})
viz.plot_gaze_and_sound(frames, gaze, idx);
"""),
    md(r"""
## 3 · The audio window (§3.2)

The audio network sees, for a 16-frame clip, the samples that cover its frames. With $F_s$ the
sampling rate, $n = F_s / \mathrm{fps}$ samples per frame and frame $f$ (1-based) the official code
takes

$$\mathrm{start}[f] = \max\!\left(0, \tfrac{f-1}{\mathrm{fps}} F_s - \tfrac{n}{2}\right), \qquad
\mathrm{end}[f] = \min\!\left(N, \tfrac{f-1}{\mathrm{fps}} F_s + \tfrac{n}{2}\right),$$

cuts `wav[start[first] : end[last] + 1]` (length $L$), multiplies it by a symmetric Hann window of
length $L$ ("to weigh higher the central audio values representing the current time instance") and
centres it, zero-padded, in a window of $\lfloor 22050 / 10 \cdot 16 \rfloor = 35\,280$ samples
(16 frames at the lowest frame rate, 10 fps). At 25 fps: $n = 882$ samples and $L \approx 16 \cdot 882
= 14\,112$ samples (0.64 s) inside the 1.6 s window. The waveform is on SoundNet's scale,
int16 / 128, about ±256.
"""),
    code("""
from IPython.display import Audio, display

from stavis_lib.data.audio import OFFICIAL_WINDOW, clip_audio

wave, rate = layout.read_audio("Synthetic", video)
fps = tut.test_videos(1)[0].fps
T = tut.sizes.model.get("sample_duration", 16) if SMOKE else 16
centre = len(frames) // 2
first, last = centre - T // 2, centre + T // 2 - 1
window = clip_audio(wave, rate, fps, first, last)
nonzero = np.flatnonzero(window)
print(f"rate {rate} Hz, fps {fps}: n = {rate / fps:.0f} samples per frame; frames {first}..{last} -> "
      f"L = {nonzero[-1] - nonzero[0] + 1} samples ({(nonzero[-1] - nonzero[0] + 1) / rate:.2f} s) "
      f"centred in {OFFICIAL_WINDOW} samples ({OFFICIAL_WINDOW / rate:.2f} s); peak |x| = {np.abs(window).max():.1f}")
viz.plot_audio_window(window, rate, title=f"{video}, frames {first}-{last}");
display(Audio(wave / 256.0, rate=rate, normalize=False))
"""),
    md(r"""
## 4 · The splits (Table 6)

STAViS trains on all six databases together. DIEM has a standard split from the literature; the five
others were split three ways like 3-fold cross-validation, every video in the test set of exactly
one split, and the reported numbers average the three splits. `stavis_lib.data.splits` holds the
split lists of the release (what the official code and checkpoints used) and Table 6 as printed;
they disagree for a few videos (see the module's docstring). The synthetic benchmark has its own
three folds.
"""),
    code("""
from stavis_lib.data import splits

rows = []
for db in splits.DATASETS:
    row = {"database": db, "videos": len(splits.video_entries(db))}
    for k in splits.SPLITS:
        row[f"test split {k}"] = len(splits.get_test_videos(db, k))
        row[f"train split {k}"] = len(splits.get_train_videos(db, k))
    rows.append(row)
pd.DataFrame(rows).set_index("database")
"""),
    code("""
# The synthetic benchmark: every video is tested in exactly one of the three splits.
membership = pd.DataFrame(
    {f"split {k}": {e.name: "test" for e in layout.read_fold_list("Synthetic", "test", k)} for k in (1, 2, 3)}
).fillna("train").sort_index()
membership.head(12)
"""),
    md(r"""
## 5 · Real eye-tracking data: DIEM (when available)

The DIEM project's raw gaze files (one file per participant, one row per frame with both eyes'
positions and event codes) convert to the same fixation and dense maps. The data is licensed
CC BY-NC-SA (non-commercial), so it is not shipped with this repository: set `DIEM_GAZE` below to
the folder of one video's gaze files from your own copy to run this section; it is skipped otherwise.
The video itself is not needed: the maps are shown on their own, and the leave-one-viewer-out NSS
measures how consistent the viewers are.
"""),
    code("""
DIEM_GAZE = None   # the folder of one DIEM video's per-participant gaze files
if DIEM_GAZE is None:
    print("No DIEM gaze folder given: skipping this section (see the text above).")
else:
    from stavis_lib.data.diem import import_diem

    gaze_dir = Path(DIEM_GAZE)
    n_diem = 90 if SMOKE else 600
    diem = import_diem(gaze_dir, tut.work / "diem", n_frames=n_diem, progress=False)
    print(f"{diem.video}: {diem.n_frames} frames of {diem.width}x{diem.height}, {diem.n_viewers} viewers, "
          f"sigma {diem.sigma:.1f} px; leave-one-out NSS {diem.mean_loo_nss:.2f}")
    diem_layout = ReleaseLayout(diem.root)
    t_idx = np.linspace(0, diem.n_frames - 1, 5).astype(int)
    d_dense = np.stack([diem_layout.read_dense("DIEM", diem.video, t + 1) for t in t_idx])
    d_fix = np.stack([diem_layout.read_fixations("DIEM", diem.video, t + 1) for t in t_idx])
    canvas = np.zeros((len(t_idx), *d_dense.shape[1:], 3), np.uint8)
    viz.plot_saliency_rows(canvas, {"dense map": d_dense}, fixations=d_fix, frame_indices=range(len(t_idx)),
                           labels=[f"frame {t}" for t in t_idx]);
"""),
    md("""
## Next

Notebook **02** trains the visual-only network (stage 1) on this data.
"""),
]

# ======================================================================================
# 02 visual-only training
# ======================================================================================
NB02 = [
    md(f"""
# 02 · Stage 1: the spatio-temporal visual network (§3.1, eq. 6)

{STAVIS_IN_BRIEF}

This notebook trains **stage 1**, the visual-only network, with *deep supervision*: the final visual
map $S^v$ and the four DSAM activations $A^m$ are all compared with the ground truth,

$$\\mathcal{{L}}_v(\\mathbf{{W}}_v) = \\mathcal{{D}}(\\sigma(S^v), Y_{{sal}}) + \\sum_{{m=1}}^{{4}} \\mathcal{{D}}(\\sigma(A^m), Y_{{sal}}) \\qquad (6)$$

with $\\mathcal{{D}} = w_1 \\mathcal{{D}}_{{CE}} + w_2 \\mathcal{{D}}_{{CC}} + w_3 \\mathcal{{D}}_{{NSS}}$,
$(w_1, w_2, w_3) = (0.1, 2, 1)$ (eq. 11): cross-entropy with the dense map (eq. 8), minus the
correlation coefficient with the dense map (eq. 9) and minus the mean standardised prediction at the
fixations (eq. 10). The paper starts from Kinetics-400 weights; here the network learns from
scratch on the synthetic benchmark (pass `kinetics_weights=` to `train` to start from Hara et
al.'s file when you have it).

{MODES}
"""),
    *common("RETRAIN = False   # True: train again even if the checkpoint exists"),
    md("## 1 · The network"),
    code("""
net = tut.build("visual")
print(net.config)
print({part: f"{n:,}" for part, n in net.parameter_parts().items()})
print(f"{sum(p.numel() for p in net.parameters()):,} parameters")
"""),
    md(r"""
## 2 · Train (or load the checkpoint)

`tut.train_or_load` loads `runs/visual/best.pt` from the working folder if it exists; otherwise it
calls `stavis_lib.train.train` (SGD with momentum, the per-part learning rates of the official
code, gradient accumulation to the effective batch, a multi-step schedule, validation NSS after
every epoch, atomic checkpoints `last.pt` / `best.pt`, CSV logs) and loads the best weights.

**Validation videos are generated apart.** The validation NSS that picks `best.pt` is measured on
`tut.sizes.n_val_videos` synthetic videos generated with another seed into another folder
(`validation/` in the working folder), as `python -m stavis_lib demo` does; the test videos of
split 1 used below are held out from training *and* from model selection (the official code
validated on its test fold).
"""),
    code("""
model, result = tut.train_or_load("visual", "visual", "visual", retrain=RETRAIN)
if result is not None:
    print(f"trained {len(result.steps)} steps in {result.seconds:.0f} s; best epoch {result.best_epoch}, "
          f"validation score {result.best_score}")
"""),
    code("""
epochs, steps = tut.training_log("visual")
viz.plot_training_curves(steps, x="step", title="stage 1: training loss per step (eq. 6)");
if "val_nss" in epochs.columns or "val_cc" in epochs.columns:
    viz.plot_training_curves(epochs, x="epoch", title="stage 1: per epoch");
epochs.tail()
"""),
    md(r"""
## 3 · DSAM attention at the four levels

The attention maps $M^m$ (eq. 2) are spatial softmaxes: each sums to 1 over its grid, which
shrinks from level to level (the trunk halves the resolution). After training they concentrate on
the objects; the final map $S^v$ combines the four levels' saliency features.
"""),
    code("""
item = tut.clip()
out = tut.forward(model, item)
print("attention grids:", [tuple(a.shape[-2:]) for a in out.attention],
      "sums:", [round(float(a[0].sum()), 4) for a in out.attention])
viz.plot_dsam_attention(item["display"], [a[0, 0] for a in out.attention],
                        saliency=torch.sigmoid(out.saliency[0, 0]), title=f"{item['video']}, frame {item['frame']}");
"""),
    md(r"""
## 4 · Held-out videos

The test videos of split 1, which neither training nor model selection has seen. `evaluate_split` runs the test path of the paper (a 16-frame sliding window with step 1, one map per
frame), post-processes each map as the official MATLAB evaluation did (Gaussian blur σ = 2, resize
to the ground-truth size) and scores CC, NSS, AUC-Judd, shuffled AUC and SIM per frame, averaged per
video, then over the test videos (pooled, as the official scripts do for every dataset but DIEM). The reference lines are a centre-bias Gaussian, the mean ground-truth map of
the training videos and the simulated humans (leave one viewer out).
"""),
    code("""
res = tut.evaluate(model, "visual-only")
viz.metrics_table(res.datasets)
"""),
    code("""
video = tut.test_videos(1)[0].name
bv = tut.synthetic_browser_video(video, {"visual-only": model})
idx = np.linspace(0, bv.n_frames - 1, 5).astype(int)
viz.plot_saliency_rows(bv.frames, {"ground truth": bv.maps["ground truth"], "visual-only": bv.maps["visual-only"]},
                       fixations=bv.fixations, frame_indices=idx);
viz.plot_nss_over_time(bv.nss, bv.fps, title=f"NSS over time, {video}");
"""),
    md("""
A visual-only network can at best split its bet between the moving objects: it cannot know which
one sounds. Notebook **03** adds the sound.
"""),
]

# ======================================================================================
# 03 audio-visual training
# ======================================================================================
NB03 = [
    md(f"""
# 03 · Stage 2: the audio-visual network (§3.2-3.4, eq. 7)

{STAVIS_IN_BRIEF}

Stage 2 starts from the stage-1 visual network and SoundNet weights and trains the whole network
end to end on the final audio-visual map only (the DSAM skip connections are not supervised any
more):

$$\\mathcal{{L}}_{{av}}(\\mathbf{{W}}_{{av}}) = \\mathcal{{D}}(\\sigma(S^{{av}}), Y_{{sal}}) \\qquad (7)$$

with the same $\\mathcal{{D}}$ (eq. 11). The variant trained here is the paper's proposal,
$L_3^{{mul}}$-$S_3^{{av}}$: bilinear localization (eq. 5) with $N_{{out}}$ maps, fused with the visual
features by concatenation. The SoundNet weights (`sound8.npy`) are used when you give their path
(`SOUNDNET_WEIGHTS`); otherwise the audio branch starts from random weights, which the synthetic
sounds (pure class tones) do not need. As in notebook 02, the validation NSS that picks `best.pt`
is measured on the validation videos generated apart (`validation/`), never on the test videos.

Then: the sound-source localization maps, visual-only vs audio-visual metrics on held-out videos,
and the **audio-dependence test**: the same model with the true soundtrack, with silence, and with
another video's soundtrack. If the model uses the sound, the last two must score lower.

{MODES}
"""),
    *common('RETRAIN = False   # True: train stage 2 again even if its checkpoint exists\n'
            'SOUNDNET_WEIGHTS = None   # path to SoundNet\'s sound8.npy (or soundnet8.pth), when you have it',
            state_extra=", soundnet_weights=SOUNDNET_WEIGHTS"),
    md("## 1 · Stage 1 (from notebook 02, trained here if absent) and stage 2"),
    code("""
visual = tut.visual_model()
model, result = tut.train_or_load("audiovisual", "L3mul_S3", "audiovisual", init=tut.checkpoint("visual"),
                                  retrain=RETRAIN)
print(model.config)
if result is not None:
    print(f"trained {len(result.steps)} steps in {result.seconds:.0f} s; init: {result.init_report}")
"""),
    code("""
epochs, steps = tut.training_log("audiovisual")
viz.plot_training_curves(steps, x="step", title="stage 2: training loss per step (eq. 7)");
if "val_nss" in epochs.columns or "val_cc" in epochs.columns:
    viz.plot_training_curves(epochs, x="epoch", title="stage 2: per epoch");
epochs.tail()
"""),
    md(r"""
## 2 · Sound-source localization maps

The localization module compares the projected sound features $h_a$ with the projected visual
features $h_v$ at every cell of the conv3 grid (eq. 5, $L_3^j = h_v^\top M^j h_a + \mu^j$). Below:
the $N_{out}$ maps of one clip taken while an object sounds, then the mean map over the frames of a
test video next to the ground truth and both networks' predictions.
"""),
    code("""
item = tut.clip()
out = tut.forward(model, item)
print("localization maps:", tuple(out.localization.shape), "audio features f_a:", tuple(out.audio_features.shape))
viz.plot_localization_maps(item["display"], out.localization[0], n_maps=8,
                           title=f"{item['video']}, frame {item['frame']}: localization maps L^j");
"""),
    code("""
video = tut.test_videos(1)[0].name
bv = tut.synthetic_browser_video(video, {"visual-only": visual, "audio-visual": model})
idx = np.linspace(0, bv.n_frames - 1, 5).astype(int)
viz.plot_saliency_rows(bv.frames, {k: bv.maps[k] for k in ("ground truth", "visual-only", "audio-visual", "localization")},
                       fixations=bv.fixations, frame_indices=idx);
viz.plot_nss_over_time(bv.nss, bv.fps, title=f"NSS over time, {video} (as the paper's Figs. 4-5)");
"""),
    md(r"""
## 3 · Visual-only vs audio-visual on held-out videos

Both networks scored on the same test videos of split 1 with the same protocol as in notebook 02.
"""),
    code("""
res_v = tut.evaluate(visual, "visual-only")
res_av = tut.evaluate(model, "audio-visual", baselines=False, human=False)
viz.metrics_table([res_v.datasets, res_av.datasets])
"""),
    md(r"""
## 4 · Does the model use the sound?

The audio-dependence test scores the audio-visual model (a) with the true soundtrack, (b) with
silence and (c) with the soundtrack of another test video (each video gets the next one's sound).
Negative deltas of CC / NSS / AUC / SIM mean that the sound drives the prediction; deltas near 0
would mean the "audio-visual" network ignores its audio (a failure a peer model was found to have).
"""),
    code("""
dep = tut.audio_dependence(model, "audio-visual")
dep
"""),
    md("""
Notebook **04** trains every variant of the paper's Table 1 with the same budget; notebook **05**
browses the predictions interactively.
"""),
]

# ======================================================================================
# 04 ablations
# ======================================================================================
NB04 = [
    md(f"""
# 04 · Ablations: every variant of Table 1

{STAVIS_IN_BRIEF}

The paper's Table 1 compares the localization methods and the fusion schemes:

| rows | localization | fusion |
|---|---|---|
| Visual | none | $S^v$ only |
| $L_i$ AudioOnly | $L_1$ cosine, $L_2$ eq. 4, $L_3$ eq. 5 | the audio map alone |
| $L_i$-$S_1^{{av}}$ | one map | $S_1^{{av}} = w_v \\sigma(S^v) + w_a \\sigma(S^a)$ |
| $L_i$-$S_2^{{av}}$ | one map | $S_2^{{av}} = \\sigma(S^v) \\odot (1 + \\sigma(S^a))$ |
| $L_3^{{mul}}$-$\\tilde S_2^{{av}}$ | $N_{{out}}$ maps | $\\tilde S_2^{{av,j}} = \\sigma(V^j) \\odot (1 + \\sigma(L^j))$, then a 1×1 conv |
| $L_3^{{mul}}$-$S_3^{{av}}$ (proposed) | $N_{{out}}$ maps | $W_{{cat}} * (V \\mid L) + \\beta_{{av}}$ |
| $L_3^{{mul}}$-$S_{{fus}}^{{av}}$ | $N_{{out}}$ maps | $\\tilde w_v \\sigma(S^v) + \\tilde w_a \\sigma(S^a) + w_{{av}} \\sigma(S^3)$ |

Here every row, **Visual included**, starts from the same stage-1 weights (the checkpoint of
`runs/visual`, trained here if absent) and is trained with the same recipe and budget: the stage-2
preset with `tut.sizes.ablation_train` (the same steps, batch, learning rates and schedule). The
Visual row keeps training the visual-only network with its loss (eq. 6); the other rows train the
whole audio-visual network (eq. 7). Each run saves what it used in `runs/ablation_<variant>/train_config.json`.
No row picks a best epoch (`val_every=0`): every row is scored with its weights at the end of the
same budget, on the same held-out test videos of split 1. Our numbers come from the synthetic benchmark and a small budget; the paper's
come from six real databases and full training, so only the *ordering* is worth comparing.

{MODES}
"""),
    *common('VARIANTS = None   # None: all 13 rows of Table 1 (SMOKE: six of them); or e.g. ["visual", "L3mul_S3"]\n'
            'RETRAIN = False   # True: train every variant again'),
    code("""
from stavis_lib.config import VARIANTS as ALL_VARIANTS

variants = list(VARIANTS or tut.sizes.ablation_variants or ALL_VARIANTS)
print(f"{len(variants)} of {len(ALL_VARIANTS)} variants, budget per variant: {tut.sizes.ablation_train}")
results = tut.ablation(variants, retrain=RETRAIN)
"""),
    md("""
## Our table, in the paper's layout

Means over the held-out videos of split 1 (CC, NSS, AUC-Judd, shuffled AUC, SIM; higher is better).
"""),
    code("""
ours = viz.ablation_table(results)
ours
"""),
    md("""
## Side by side with the paper's Table 1

⚠️ The right-hand block is **the paper's own numbers** (Table 1 of Tsiami et al., CVPR 2020: the
mean over the six real eye-tracking databases and three splits, full training from Kinetics and
SoundNet weights). It is printed for reference and is **not** a result of this notebook.
"""),
    code("""
viz.table1_side_by_side(results)
"""),
    code("""
viz.plot_ablation(results, metrics=("cc", "nss", "sim"));
"""),
    md("""
**Reading it.** On the synthetic benchmark the sound decides which object is looked at, so every
variant that localizes the sound should beat the visual row, and the more expressive bilinear
localization ($L_3$) with many maps should do best, as in the paper. With the SMOKE budget the
numbers are noise.
"""),
]

# ======================================================================================
# 05 interactive overlays
# ======================================================================================
NB05 = [
    md(f"""
# 05 · Interactive overlays: browse the predictions

{STAVIS_IN_BRIEF}

An **ipywidgets browser** of the two trained networks (stage 1 visual-only, stage 2 audio-visual
$L_3^{{mul}}$-$S_3^{{av}}$):

* choose a video: a held-out synthetic video (with ground truth), one of the real clips with sound
  shipped in `assets/media/` (Big Buck Bunny, Sintel, a speech, a 0.55 s sports clip), or your own
  file (type its path and press *Load*, or *Upload* it);
* scrub the frames with the slider (or press ▶);
* toggle the layers: **ground truth** (dense map, fixations as white dots), **visual-only**,
  **audio-visual**, and **localization** (the mean of the sound-source localization maps);
* the status line and the **NSS-over-time** plot (as the paper's Figs. 4-5) follow the current frame;
* *Render overlay video* writes an mp4 of the first selected model layer with the **original sound**
  and plays it inline.

On Colab the cell below enables the widget manager Colab needs for ipywidgets 8. The networks are
loaded from the working folder (trained here first when notebooks 02-03 have not run).

{MODES}
"""),
    *common(),
    code("""
if "google.colab" in sys.modules:
    from google.colab import output

    output.enable_custom_widget_manager()

visual = tut.visual_model()
audiovisual = tut.audiovisual_model()
"""),
    code("""
browser = tut.browser({"visual-only": visual, "audio-visual": audiovisual})
browser
"""),
    md("""
The browser is an object: it can be driven from code too, e.g. `browser.set_frame(40)`,
`browser.set_layers(["ground truth", "audio-visual"])`, `browser.load_path("/path/to/video.mp4")` or
`browser.render_video()`. From a terminal, the same predictions for any video:

```
python -m stavis_lib predict VIDEO --out DIR   # DIR/maps.npz, DIR/overlay.mp4 (with sound), DIR/summary.json
```
"""),
]

NOTEBOOKS = {
    "01_data_preparation.ipynb": NB01,
    "02_visual_only_training.ipynb": NB02,
    "03_audiovisual_training.ipynb": NB03,
    "04_ablations.ipynb": NB04,
    "05_interactive_overlays.ipynb": NB05,
}


def colab_link(name: str) -> str:
    url = f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/{GITHUB_BRANCH}/notebooks/{name}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def build(cells: list[nbformat.NotebookNode], name: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    title, rest = cells[0].source.split("\n", 1)
    cells = [md(f"{title}\n\n{colab_link(name)}\n{rest}"), *cells[1:]]
    nb.cells = cells
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["accelerator"] = "GPU"  # Colab: open with a GPU runtime
    for i, cell in enumerate(nb.cells):  # stable ids: regenerated notebooks diff cleanly
        cell["id"] = f"c{i:02d}"
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    return nbformat.writes(build(NOTEBOOKS[name], name)) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when a notebook is out of date")
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args(argv)
    stale = []
    a.out.mkdir(parents=True, exist_ok=True)
    for name in NOTEBOOKS:
        text = render(name)
        path = a.out / name
        if a.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    if stale:
        print("out of date (run tools/make_notebooks.py):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
