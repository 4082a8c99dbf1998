"""Notebook 01 · data preparation: its cells, in order (``CELLS``)."""
from __future__ import annotations

from .common import MODES, STAVIS_IN_BRIEF, code, common, md, overview

# ======================================================================================
# 01 data preparation
# ======================================================================================
OVERVIEW = overview(
    learn=["the file layout of the official STAViS data release, and the synthetic benchmark written in it",
           "how the ground truth is made: fixation maps and Gaussian-blurred dense maps from every viewer's gaze",
           "how fast the simulated viewers turn to a sounding object (measured from their gaze)",
           "which audio samples the audio network hears for a 16-frame clip (Hann-weighted, 35 280 samples)",
           "the splits of the paper's Table 6, and real DIEM gaze converted to maps"],
    cpu="about 1.5 min (measured: 76 s with `DIEM_GAZE` set; 23 s of it generating the 48 videos)",
    gpu="not measured", smoke="about 1 min")

CELLS = [
    md(f"""
# 01 · Data preparation: the release layout, the synthetic benchmark, real gaze data

{OVERVIEW}

{STAVIS_IN_BRIEF}

This notebook prepares and explains the **data**: the file layout of the official STAViS data
release, the synthetic audio-visual eye-tracking benchmark that this repository generates in that
layout, frames with fixations and dense maps, how fast the simulated viewers turn to a sound, the
Hann-weighted audio window the audio network sees, the three splits of the paper's Table 6 and,
when a copy is available, real DIEM eye-tracking data converted to maps.

{MODES}
"""),
    *common('DIEM_GAZE = None  # the folder of one DIEM video\'s per-participant gaze files (section 6)'),
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
the real release): 3-4 moving objects per video, each of a different class out of four (a shape
and a colour), each class with its own sound; one object sounds at a time, and an object looks the same whether it sounds or not, so only
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
viewer predicted from the others). Below: every viewer's gaze point (white) on the frames above,
and the timeline of which object class sounds.
"""),
    code("""
from stavis_lib.data.maps import gaze_path, read_gaze_npz

gaze = read_gaze_npz(gaze_path(root, "Synthetic", video))
print("gaze arrays:", {k: np.shape(v) for k, v in gaze.items()})
viz.plot_gaze_and_sound(frames, gaze, idx);
"""),
    md(r"""
## 3 · How fast the viewers turn to a sound

The simulator draws each viewer's reaction to a sound onset: with probability `p_react` the gaze
leaves for the sounding object after a latency of 220 ± 50 ms (clipped to 120-400 ms) and lands
one frame (40 ms) later; during a sound, a new fixation also goes to the sounding object with
probability `p_follow_sound`. The plot measures what this gives, from the gaze positions only: the
fraction of viewers whose gaze lies in the sounding object's box, against the time since the onset,
pooled over every onset of every video of the benchmark
(`stavis_lib.data.onsets.onset_response`).
"""),
    code("""
from stavis_lib.data.onsets import onset_response
from stavis_lib.data.synthetic import read_benchmark_config

synth_cfg, _seed, _n = read_benchmark_config(root)
all_videos = sorted({e.name for k in (1, 2, 3) for e in layout.read_fold_list("Synthetic", "test", k)})
response = onset_response([read_gaze_npz(gaze_path(root, "Synthetic", v)) for v in all_videos], before=0.2, after=1.0)
print(f"{int(response.n_onsets.max())} onsets in {len(all_videos)} videos; on the sounding object: "
      f"{response.baseline:.2f} before the onset, {response.peak:.2f} at most after it; "
      f"half of the rise {response.half_rise * 1000:.0f} ms after the onset "
      f"(configured latency {synth_cfg.latency[0] * 1000:.0f} ± {synth_cfg.latency[1] * 1000:.0f} ms + one saccade frame)")
assert synth_cfg.latency_range[0] <= response.half_rise <= synth_cfg.latency_range[1] + 1 / synth_cfg.fps
assert response.peak > response.baseline + 0.3
viz.plot_onset_response(response);
"""),
    md(r"""
So the viewers are on the sounding object about a quarter of a second after the sound starts. The
audio excerpt of a 16-frame clip spans 0.64 s around the clip's centre at 25 fps (next section),
longer than this delay.

The function below simulates videos in memory (no files) with the benchmark's configuration and
your changes, and measures their onset response the same way; the exercises use it.
"""),
    code("""
from dataclasses import replace

from stavis_lib.data.synthetic import simulate_video


def simulated_response(n_videos=12, **changes):
    # the onset response of n_videos simulated in memory with the benchmark's SyntheticConfig and `changes`
    cfg = replace(synth_cfg, write_mp4=False, **changes)
    gazes = []
    for i in range(n_videos):
        v = simulate_video(0, i, cfg)
        gazes.append({"x": v.gaze_x, "y": v.gaze_y, "boxes": v.boxes, "sounding": v.sounding, "fps": cfg.fps})
    return onset_response(gazes, before=0.2, after=1.0)


# Exercise 1: viz.plot_onset_response(simulated_response(latency=(0.40, 0.05), latency_range=(0.30, 0.50)));
# Exercise 2: viz.plot_onset_response(simulated_response(p_react=0.0));
#             viz.plot_onset_response(simulated_response(p_react=0.0, p_follow_sound=0.0));
"""),
    md(r"""
**Exercise 1.** Make the viewers slower: plot
`simulated_response(latency=(0.40, 0.05), latency_range=(0.30, 0.50))`.

*What you should observe:* the curve keeps its shape but shifts right: half of the rise comes
about 200 ms later (about 440 ms instead of about 240 ms with the default latency, in the full
run's 160×120 configuration), and the peak stays near 0.9.

**Exercise 2.** Take away the reaction to onsets (`p_react=0.0`), then also the preference for
the sounding object during a sound (`p_react=0.0, p_follow_sound=0.0`).

*What you should observe:* with `p_react=0` the curve still rises, but only as fixations end and
the new ones go to the sound: half of the rise comes at about 440 ms and the peak is a little
lower (about 0.88 instead of 0.91). With both at 0 the curve stays flat near 0.24, about the
chance of being on one given object of 3-4: nothing then draws the viewers to the object that
sounds, and the sound is what this benchmark's gaze depends on.
"""),
    md(r"""
## 4 · The audio window (§3.2)

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
## 5 · The splits (Table 6)

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
## 6 · Real eye-tracking data: DIEM (when available)

The DIEM project's raw gaze files (one file per participant, one row per frame with both eyes'
positions and event codes) convert to the same fixation and dense maps. The data is licensed
CC BY-NC-SA (non-commercial), so it is not shipped with this repository: set `DIEM_GAZE` in the
parameters cell to the folder of one video's gaze files from your own copy to run this section; it
is skipped otherwise. The video itself is not needed and not used: the figure shows the dense maps
and the fixations alone (no frames under them), and the leave-one-viewer-out NSS measures how
consistent the viewers are.
"""),
    code("""
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
    viz.plot_gaze_maps(d_dense, d_fix, [f"frame {t}" for t in t_idx],
                       title=f"DIEM {diem.video}: dense maps and fixations only (no video frames)");
"""),
    md("""
## Next

Notebook **02** trains the visual-only network (stage 1) on this data.
"""),
]
