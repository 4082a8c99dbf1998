"""Notebook 02 · stage 1, visual-only training: its cells, in order (``CELLS``).

The notebook builds DSAM (eqs. 1-2) and the loss (eqs. 6, 8-11) in plain torch, checks both
against the library with assertions (which the SMOKE run of the tests executes), trains the
network with a short written-out loop, then with ``stavis_lib.train`` (the checkpoint the later
notebooks use), and shows the attention maps and the held-out scores."""
from __future__ import annotations

from .common import MODES, code, common, md, overview

RECAP = r"""
**Where we are.** Notebook 01 generated the synthetic benchmark: videos of moving objects, one of
which sounds at a time, each frame with the simulated viewers' fixations and a dense saliency map,
split into 3 folds. STAViS (Fig. 2 of the paper) has a **visual path** (a 3D ResNet with a
*Deeply Supervised Attention Module*, DSAM, after each of its first four blocks, §3.1) and an
**audio path** (SoundNet, sound-source localization, fusion, §3.2-3.4). It is trained in two
stages; this notebook builds and trains **stage 1**, the visual path alone. Notebook 03 adds the sound.
""".strip()

LEARN = [
    "DSAM (eqs. 1-2) in ten lines of torch, checked against the library's module",
    "the shape of every tensor through the network, read with forward hooks",
    "the loss of eqs. 6 and 8-11 written out and checked against `stavis_lib.losses`",
    "a training loop you can read and change: parameter groups, gradient accumulation, the "
    "deep-supervision weight, the learning-rate schedule",
    "how to read the training curves of deep supervision, and what the attention maps show",
]

TITLE = f"""
# 02 · Stage 1: the spatio-temporal visual network (§3.1, eq. 6)

{overview(LEARN, cpu="about 15 min (measured: 18 min with a package install running alongside; 6 min of it the 200-step loop, 9 the stage-1 training)", gpu="not measured", smoke="about 2.5 min (measured on busy cores)")}

{RECAP}

{MODES}
"""

NETWORK = r"""
## 1 · The network, built in the open

The paper's visual path uses the first four blocks of a 3D ResNet, conv1..conv4 with outputs
$X^1..X^4$. In the library they are `trunk.conv1` (with BN, ReLU) and `trunk.layer1..layer3`
(Hara et al.'s names; there is no `layer4`). After each of them a DSAM (`dsam.0..dsam.3`) at level
$m$ averages $X^m$ over time, computes *saliency features* $S^m$ (a 3×3 convolution to 16 channels
in the paper, `dsam_channels` here) and a
one-channel *activation* $A^m$ (1×1 convolution of $S^m$), and re-weights the features with the
spatial softmax of $A^m$:

$$M^m(x,y) = \frac{e^{A^m(x,y)}}{\sum_{x',y'} e^{A^m(x',y')}} \quad (2) \qquad\qquad
\tilde X^m = (1 + M^m) \odot X^m \quad (1)$$

$M^m$ sums to 1 over the grid, so "$1 +$" keeps every feature and boosts the attended cells. $S^m$
and $A^m$ are also upsampled to the frame (learned deconvolutions): the four $S^m$ are concatenated
into $V = (S^1|S^2|S^3|S^4)$, whose 1×1 convolution is the visual map $S^v$, and the four $A^m$ are
the side outputs that deep supervision (eq. 6) compares with the ground truth.

Here is DSAM in plain torch. It takes its convolutions' weights as arguments, so that we can run it
with the library's weights and compare.
"""

DSAM_CODE = '''
import torch.nn.functional as F


def dsam(x, w_s, b_s, w_a, b_a):
    """DSAM at one level (eqs. 1-2). x: the features X^m, (B, C, T, h, w)."""
    pooled = x.mean(dim=2)                                  # average over time: (B, C, h, w)
    s = F.conv2d(pooled, w_s, b_s, padding=1)               # saliency features S^m: (B, 16, h, w)
    a = F.conv2d(s, w_a, b_a)                               # activation A^m: (B, 1, h, w)
    b, _, h, w = a.shape
    m = torch.softmax(a.reshape(b, 1, h * w), dim=-1)       # eq. 2: softmax over the h*w cells...
    m = m.reshape(b, 1, h, w)                               # ...back on the grid: M^m
    x_tilde = (1 + m[:, :, None]) * x                       # eq. 1: the same M^m for every channel and time step
    return s, a, m, x_tilde
'''

DSAM_CHECK = '''
import copy

level = 1                                   # the DSAM after layer1 (the paper's conv2): X^2
lib = copy.deepcopy(net.dsam[level])        # the library's module (a copy: `net` stays as built)
with torch.no_grad():                       # its initial weights are tiny (M^m ~ uniform); random ones test more
    torch.manual_seed(SEED)
    lib.saliency_conv.weight.normal_(0, 0.1)
    lib.activation_conv.weight.normal_(0, 0.5)

C = net.trunk.level_channels[level]
T, h = net.config.sample_duration // 2, net.config.sample_size // 4    # X^2's time steps and grid side
x = torch.randn(2, C, T, h, h)              # a dummy feature map X^m for a batch of 2 clips
with torch.no_grad():
    s, a, m, x_tilde = dsam(x, lib.saliency_conv.weight, lib.saliency_conv.bias,
                            lib.activation_conv.weight, lib.activation_conv.bias)
    x_tilde_lib, s_up_lib, a_up_lib, m_lib = lib(x)     # the library: X~^m, S^m and A^m upsampled, M^m

print("X^m        ", tuple(x.shape), "  (B, C, T, h, w)")
print("S^m        ", tuple(s.shape), "      upsampled by the library to", tuple(s_up_lib.shape))
print("A^m        ", tuple(a.shape), "       upsampled by the library to", tuple(a_up_lib.shape))
print("M^m        ", tuple(m.shape), "       sums over the grid:", m.sum(dim=(2, 3)).flatten().tolist())
print("X~^m       ", tuple(x_tilde.shape))
print(f"M^m ranges from {m.min():.5f} to {m.max():.5f}; uniform would be 1/(h*w) = {1 / (h * h):.5f}")

assert torch.allclose(m.sum(dim=(2, 3)), torch.ones(2, 1), atol=1e-6)
assert torch.allclose(m, m_lib, atol=1e-6) and torch.allclose(x_tilde, x_tilde_lib, atol=1e-5)
with torch.no_grad():  # the library's S^m, A^m are ours after its upsampling deconvolutions
    assert torch.allclose(lib.up_saliency(s), s_up_lib, atol=1e-5)
    assert torch.allclose(lib.up_activation(a), a_up_lib, atol=1e-5)
print("our DSAM agrees with stavis_lib.model.visual.DSAM")
'''

SHAPES_MD = r"""
**Every tensor through the network.** `shape_table` (in `stavis_lib.viz.shapes`) registers a
forward hook on each block, runs one clip through the network and lists what enters and leaves
each block, with the paper's name. Read it from top to bottom: conv1 halves the frame's height and
width (stride (1, 2, 2)); the max-pool, layer2 and layer3 each halve time, height and width again
(layer1 keeps them), so the attention grids $M^1..M^4$ shrink level by level, while $S^m$ and $A^m$
are upsampled back to the frame; $V$ stacks the four levels' $S^m$: 4 × `dsam_channels` channels
(4 × 16 = 64 in the paper's network and in the CPU network).
"""

SHAPES_CODE = '''
from stavis_lib.viz.shapes import shape_table

cfg_m = net.config
shapes = shape_table(net.eval(), torch.zeros(1, 3, cfg_m.sample_duration, cfg_m.sample_size, cfg_m.sample_size))
shapes
'''

LOSS_MD = r"""
## 2 · The loss, written out (eqs. 6, 8-11)

Each predicted map is a logit map; $P = \sigma(\text{logits})$. Against the dense ground truth
$Y_{den}$ and the fixation map $Y_{fix}$ (with $N_f$ fixations), per clip:

* $\mathcal{D}_{CE} = -\sum_{x,y} \big[Y_{den} \log P + (1 - Y_{den}) \log(1 - P)\big]$, summed over
  the pixels (eq. 8; the printed "$1 - \log P$" is a typo for the usual binary cross-entropy);
* $\mathcal{D}_{CC} = -\dfrac{\operatorname{cov}(P, Y_{den})}{\sigma(P)\,\sigma(Y_{den})}$ (eq. 9);
* $\mathcal{D}_{NSS} = -\dfrac{1}{N_f} \sum_{x,y} \dfrac{P - \mu(P)}{\sigma(P)}\, Y_{fix}$ (eq. 10);
* $\mathcal{D} = 0.1\,\mathcal{D}_{CE} + 2\,\mathcal{D}_{CC} + 1\,\mathcal{D}_{NSS}$ (eq. 11),
  averaged over the batch.

CC and NSS are **scores** (higher is better) that enter the loss with a minus sign, so a good
prediction has a *negative* loss. Stage 1 adds the four side outputs $A^m$ with a weight that
falls linearly over the epochs (the official code's schedule: $1 - e/E$ in 1-based epoch $e$ of
$E$, so $(E-1)/E$ in the first epoch and 0 in the last):

$$\mathcal{L}_v = \mathcal{D}(\sigma(S^v), Y) + \Big(1 - \frac{e}{E}\Big) \sum_{m=1}^{4} \mathcal{D}(\sigma(A^m), Y) \qquad (6)$$

**The presets of this notebook average $\mathcal{D}_{CE}$ over the pixels** instead of summing it
(`ce_reduction="mean"` of the `cpu_demo` and `smoke` presets, which train from scratch; a named
deviation that divides the CE term's weight by $H \cdot W$). The cell below checks both against
`stavis_lib.losses` on one batch of training clips.
"""

LOSS_CODE = '''
def d_ce(logits, dense, reduction="sum"):       # eq. 8, per clip; log P and log(1 - P) from the logits (stable)
    bce = -(dense * F.logsigmoid(logits) + (1 - dense) * F.logsigmoid(-logits)).flatten(1)
    return bce.sum(1) if reduction == "sum" else bce.mean(1)


def d_cc(p, dense):                             # eq. 9, per clip: minus the correlation coefficient
    p, y = p.flatten(1), dense.flatten(1)
    p, y = p - p.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
    return -(p * y).mean(1) / (p.pow(2).mean(1).sqrt() * y.pow(2).mean(1).sqrt())


def d_nss(p, fix):                              # eq. 10, per clip: minus the mean z-scored P at the fixations
    p, f = p.flatten(1), fix.flatten(1)
    z = (p - p.mean(1, keepdim=True)) / p.std(1, unbiased=False, keepdim=True)
    return -(z * f).sum(1) / f.sum(1)


def D(logits, dense, fix, reduction="sum", w=(0.1, 2.0, 1.0)):    # eq. 11, averaged over the batch
    p = torch.sigmoid(logits)
    has_fix = fix.flatten(1).sum(1) > 0         # eq. 10 needs N_f > 0: NSS over the clips with fixations
    return (w[0] * d_ce(logits, dense, reduction).mean() + w[1] * d_cc(p, dense).mean()
            + w[2] * d_nss(p[has_fix], fix[has_fix]).mean())


def visual_loss(out, dense, fix, side_weight, reduction="sum"):   # eq. 6
    return D(out.visual, dense, fix, reduction) + side_weight * sum(D(a, dense, fix, reduction) for a in out.side)
'''

LOSS_CHECK = '''
from torch.utils.data import DataLoader

from stavis_lib import losses
from stavis_lib.data.clips import TrainClips

clips = TrainClips(tut.data_config(), kind="train", seed=SEED)   # one random clip per 90-frame segment
batch = next(iter(DataLoader(clips, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(SEED))))
print({k: tuple(v.shape) for k, v in batch.items() if torch.is_tensor(v)})

with torch.no_grad():
    out = net.train()(batch["frames"])        # train mode: BatchNorm uses the batch statistics, as in training
    for reduction in ("sum", "mean"):
        ours = D(out.visual, batch["dense"], batch["fix"], reduction)
        lib_loss, parts = losses.saliency_loss(out.visual, batch["dense"], batch["fix"], ce_reduction=reduction)
        print(f"D(sigma(S^v)), CE {reduction:4s} over pixels: ours {float(ours):10.4f}   stavis_lib {float(lib_loss):10.4f}")
        assert torch.allclose(ours, lib_loss, rtol=1e-5, atol=1e-5)
    E = 4                                     # eq. 6 in the first of E epochs: side weight 1 - 1/E
    ours = visual_loss(out, batch["dense"], batch["fix"], 1 - 1 / E, "mean")
    lib_loss, parts = losses.visual_loss(out, batch["dense"], batch["fix"], epoch=1, n_epochs=E, ce_reduction="mean")
    assert torch.allclose(ours, lib_loss, rtol=1e-5, atol=1e-5)
print("eq. 6 (side weight", parts["side_weight"], "): ours", round(float(ours), 4), "= stavis_lib", round(float(lib_loss), 4))
print("the library's parts:", {k: round(v, 4) for k, v in parts.items()})
'''

LOOP_MD = r"""
## 3 · The training loop, written out

`stavis_lib.train.train` is the full-scale version (section 4): SGD with momentum, per-part
learning rates, gradient accumulation to the effective batch, a multi-step schedule, validation
after every epoch, checkpoints and logs, mixed precision and several GPUs. Its steps fit in one
screen. First the configuration this notebook trains with: the preset of `tut.sizes` (the
`cpu_demo` preset on a CPU, `smoke` in SMOKE), printed, not assumed.

**Parameter groups.** The official code gives each part of the network its own learning rate, a
multiple of the base rate `lr` (`part_lr`): the trunk ("global") and the saliency heads ("sal":
DSAM and the visual head). The official code also scales single parameters inside "sal"
(`sal_scales`). The CPU preset keeps the official multiples for stage 1 (trunk `lr`/10, saliency
heads `lr`/100) but not the per-parameter scales, and it differs from the official optimiser in
the dampening (0 instead of 0.9) and the effective batch (8 clips instead of 128; the notebooks
raise it to 32 on a GPU), as printed above. We build the groups by hand and assert that they are what
`stavis_lib.train.parameter_groups` builds for the same configuration.
"""

CONFIG_CODE = '''
from stavis_lib.train import OFFICIAL_PART_LR, PART_GROUP, default_milestones, parameter_groups

cfg = tut.train_config("visual", **tut.sizes.train)
milestones = cfg.milestones if cfg.milestones is not None else default_milestones(cfg.epochs)
print(f"preset {cfg.preset!r}: {cfg.epochs} epochs x {cfg.steps_per_epoch} steps, effective batch {cfg.batch_size} "
      f"(micro-batch {cfg.micro_batch}), lr {cfg.lr}, part_lr {cfg.part_lr}, sal_scales {cfg.sal_scales}")
print(f"SGD momentum {cfg.momentum}, dampening {cfg.dampening}, weight decay {cfg.weight_decay}; "
      f"lr x {cfg.gamma} from 0-based epoch {milestones}; CE {cfg.ce_reduction} over pixels; "
      f"gradient clipping: {cfg.grad_clip}")

part_lr = {**OFFICIAL_PART_LR["visual"], **(cfg.part_lr or {})}    # "global", "sal", "sound", "fusion"
def our_groups(net):
    """One SGD group per part of the network that stage 1 trains (trunk, dsam, visual_head)."""
    return [{"params": [p for n, p in net.named_parameters() if n.split(".")[0] == part],
             "lr": cfg.lr * part_lr[PART_GROUP[part]], "name": part}
            for part in ("trunk", "dsam", "visual_head")]

ours = {g["name"]: g["lr"] for g in our_groups(net)}
print("our groups:", ours)
assert not cfg.sal_scales, "with the official per-parameter scales the groups differ inside 'sal'"
lib_groups = parameter_groups(copy.deepcopy(net), "visual", cfg)          # one group per parameter
for g in lib_groups:
    assert abs(g["lr"] - ours[g["name"].split(".")[0]]) < 1e-12, g["name"]
assert sum(len(g["params"]) for g in our_groups(net)) == len(lib_groups)
print(f"= stavis_lib.train.parameter_groups ({len(lib_groups)} parameters)")
'''

LOOP_MD2 = r"""
**The loop.** Every optimiser step averages the gradient over `cfg.batch_size` clips; to show
gradient accumulation, this loop computes it over `cfg.batch_size // MICRO_BATCH` micro-batches of
`MICRO_BATCH` clips (dividing each loss by their number, so the gradients add up to the mean). The
result is the same gradient, except that BatchNorm normalises over `MICRO_BATCH` clips at a time
(the preset itself uses one micro-batch of `cfg.micro_batch` clips). The loop's `LOOP_STEPS` steps are
split into `cfg.epochs` equal "epochs" so that the deep-supervision weight (eq. 6) and the learning
rate follow the preset's schedule. Gradient clipping runs only when `cfg.grad_clip` is set (the
stage-1 presets leave it off; stage 2 of the CPU preset clips at 5).
"""

LOOP_CODE = '''
import itertools

import pandas as pd
from stavis_lib import metrics


def clip_batches(clips, micro_batch, seed):
    """Micro-batches of random training clips, forever; every pass draws new clips (set_epoch)."""
    for draw in itertools.count():
        clips.set_epoch(draw)
        yield from DataLoader(clips, batch_size=micro_batch, shuffle=True, drop_last=True,
                              generator=torch.Generator().manual_seed(seed + draw))


def train_loop(net, cfg, steps, micro_batch, deep_supervision=True, seed=SEED):
    torch.manual_seed(seed)
    opt = torch.optim.SGD(our_groups(net), lr=cfg.lr, momentum=cfg.momentum, dampening=cfg.dampening,
                          weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(milestones), gamma=cfg.gamma)
    accum = max(1, cfg.batch_size // micro_batch)            # micro-batches per optimiser step
    per_epoch = max(1, steps // cfg.epochs)
    batches, log = clip_batches(clips, micro_batch, seed), []
    net.train()
    for step in range(1, steps + 1):
        epoch = min((step - 1) // per_epoch, cfg.epochs - 1)                   # 0-based
        w_side = (1 - (epoch + 1) / cfg.epochs) if deep_supervision else 0.0  # eq. 6
        opt.zero_grad()
        row = dict(step=step, epoch=epoch + 1, loss=0.0, train_cc=0.0, train_nss=0.0, loss_side=0.0)
        for _ in range(accum):
            b = next(batches)
            out = net(b["frames"])
            side = sum(D(a, b["dense"], b["fix"], cfg.ce_reduction) for a in out.side)
            loss = D(out.visual, b["dense"], b["fix"], cfg.ce_reduction) + w_side * side
            (loss / accum).backward()                 # gradients of the micro-batches add up to the mean
            p = torch.sigmoid(out.visual.detach())
            row["loss"] += float(loss.detach()) / accum
            row["loss_side"] += float(side.detach()) / accum
            row["train_cc"] += -float(d_cc(p, b["dense"]).mean()) / accum
            row["train_nss"] += -float(d_nss(p, b["fix"]).nanmean()) / accum
        if cfg.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        opt.step()
        log.append({**row, "side_weight": w_side, "lr": opt.param_groups[0]["lr"]})
        if step % per_epoch == 0:
            sched.step()                              # the schedule counts epochs
    return pd.DataFrame(log)


val_clips = tut.validation_data(cfg.val_frames)      # the validation windows stavis_lib.train selects on


def val_scores(net, batch_size=8):
    """Mean CC and NSS (the evaluation metrics) of sigmoid(S) on the validation windows."""
    cc, nss = [], []
    with torch.no_grad():
        for b in DataLoader(val_clips, batch_size=batch_size):
            p = torch.sigmoid(net.eval()(b["frames"]).saliency)[:, 0]
            cc.append(metrics.cc(p, b["dense"][:, 0]))
            nss.append(metrics.nss(p, b["fix"][:, 0]))
    return {"CC": float(torch.cat(cc).nanmean()), "NSS": float(torch.cat(nss).nanmean())}
'''

LOOP_RUN = '''
import time

steps = LOOP_STEPS or (2 if SMOKE else 200)
MICRO_BATCH = max(1, cfg.batch_size // 2)
loop_net = tut.build("visual")
print("before training:", val_scores(loop_net))
t0 = time.perf_counter()
loop_log = train_loop(loop_net, cfg, steps, MICRO_BATCH)
print(f"{steps} steps of {cfg.batch_size} clips ({cfg.batch_size // MICRO_BATCH} x {MICRO_BATCH}) "
      f"in {time.perf_counter() - t0:.0f} s")
print("after training: ", val_scores(loop_net))
viz.plot_training_curves(loop_log, title=f"the notebook's loop, {steps} steps");
'''

FULL_MD = r"""
## 4 · The full-scale version: `stavis_lib.train`

`tut.train_or_load` loads `runs/visual/best.pt` from the working folder if it exists; otherwise it
calls `stavis_lib.train.train` with the configuration printed above and loads the best weights.
This is the checkpoint notebooks 03-05 start from. Next to the loop above it adds: the
`cfg.steps_per_epoch` x `cfg.epochs` steps of the preset, validation after every epoch (the best
epoch is kept), atomic checkpoints (`last.pt`, `best.pt`) that an interrupted run resumes from, CSV
logs, and on a GPU mixed precision, channels-last memory and several processes.

**Validation videos are generated apart.** The validation scores that pick `best.pt` are measured
on `tut.sizes.n_val_videos` synthetic videos generated with another seed into another folder
(`validation/` in the working folder), as `python -m stavis_lib demo` does; the test videos of
split 1 used in section 6 are held out from training *and* from model selection (the official code
validated on its test fold).
"""

FULL_CODE = '''
model, result = tut.train_or_load("visual", "visual", "visual", retrain=RETRAIN)
if result is not None:
    print(f"trained {len(result.steps)} steps in {result.seconds:.0f} s; best epoch {result.best_epoch}, "
          f"validation score {result.best_score}")
print("validation scores of the loaded network:", val_scores(model))
'''

CURVES_MD = r"""
**Reading the curves.** `steps.csv` logs, per optimiser step, the total loss `loss` (eq. 6), the sum
of the four side losses `loss_side`, the side weight `side_weight`, the CE term `loss_ce`, and
`train_cc` / `train_nss`: the CC and NSS **scores** of the training batch's final map (higher is
better; they enter the loss with a minus sign; older logs named them `loss_cc` / `loss_nss`). The
figure splits the total into the final-map term $\mathcal{D}(\sigma(S^v))$ = `loss - side_weight *
loss_side` and the side losses, with the side weight (dashed, right axis) and the per-epoch
validation scores (black dots).
"""

CURVES_CODE = '''
epochs, steps_log = tut.training_log("visual")
viz.plot_training_curves(steps_log, title="stage 1 with stavis_lib.train (eq. 6)", validation=epochs);
per_epoch = steps_log.assign(final_map_term=steps_log["loss"] - steps_log["side_weight"] * steps_log["loss_side"])
per_epoch = per_epoch.groupby("epoch")[["side_weight", "loss", "final_map_term", "loss_side", "train_cc"]].mean()
per_epoch.join(epochs.set_index("epoch")[[c for c in ("val_cc", "val_nss") if c in epochs.columns]])
'''

CURVES_AFTER = r"""
Once the side maps are useful their losses are negative (CC and NSS enter with a minus sign), so
the total loss contains side_weight × (a negative number). As the side weight falls from epoch to
epoch (to 0 in the last), that contribution shrinks: **the total loss can rise from one epoch to
the next while the final-map term falls and the training CC and NSS rise** (compare the columns of
the table). A rising total loss under deep supervision is therefore not, by itself, overfitting;
whether the network generalises is what the validation scores say (`val_cc`, `val_nss`, the
black dots).
"""


ATTENTION_MD = r"""
## 5 · DSAM attention at the four levels

The attention maps $M^m$ (eq. 2) of the trained network on one test clip. Each sums to 1 over its
own grid, and the grids differ (the trunk halves the resolution from level to level), so the
figure shows $M^m \cdot h_m w_m$, *the attention in units of the uniform level* $1/(h_m w_m)$: 1
(white) means uniform, red more and blue less than uniform, on one logarithmic colour scale for
all four levels. A map that is nearly uniform is drawn nearly white. The table gives the same
numbers. Keep in mind what eq. 1 does with them: the features are multiplied by $1 + M^m$, and
since $M^m$ sums to 1, a cell at $k$ times the uniform level is multiplied by $1 + k/(h_m w_m)$,
e.g. 1.05 for $k = 50$ on a 32 × 32 grid (exercise 1 removes the attention altogether).
"""

ATTENTION_CODE = '''
item = tut.clip()
out = tut.forward(model, item)
att = [a[0, 0] for a in out.attention]
viz.plot_dsam_attention(item["display"], att, saliency=torch.sigmoid(out.saliency[0, 0]),
                        title=f"{item['video']}, frame {item['frame']}");
pd.DataFrame([{"level": f"M^{m + 1}", "grid": tuple(a.shape), "sum": float(a.sum()), "uniform 1/(h w)": 1 / a.numel(),
               "min": float(a.min()), "max": float(a.max()), "max / uniform": float(a.max()) * a.numel()}
              for m, a in enumerate(att)]).set_index("level")
'''

EVAL_MD = r"""
## 6 · Held-out videos

The test videos of split 1, which neither training nor model selection has seen. `evaluate_split`
runs the test path of the paper (a 16-frame sliding window with step 1, one map per frame),
post-processes each map as the official MATLAB evaluation did (Gaussian blur σ = 2, resize to the
ground-truth size) and scores CC, NSS, AUC-Judd, shuffled AUC and SIM per frame, averaged per video,
then over the test videos (pooled, as the official scripts do for every dataset but DIEM). The
reference lines are a centre-bias Gaussian, the mean ground-truth map of the training videos and
the simulated humans (leave one viewer out).
"""

EVAL_CODE = '''
res = tut.evaluate(model, "visual-only")
viz.metrics_table(res.datasets)
'''

BROWSE_CODE = '''
video = tut.test_videos(1)[0].name
bv = tut.synthetic_browser_video(video, {"visual-only": model})
idx = np.linspace(0, bv.n_frames - 1, 5).astype(int)
viz.plot_saliency_rows(bv.frames, {"ground truth": bv.maps["ground truth"], "visual-only": bv.maps["visual-only"]},
                       fixations=bv.fixations, frame_indices=idx);
viz.plot_nss_over_time(bv.nss, bv.fps, title=f"NSS over time, {video}");
'''

EXERCISE_1 = r"""
## 7 · Exercises

**Exercise 1. Attention without attention.** Make every $M^m$ uniform in a copy of the trained
network and score it again: with the activation convolution at zero, $A^m$ is constant and
$M^m = 1/(h_m w_m)$ everywhere, so eq. 1 only scales $X^m$ by the constant $1 + 1/(h_m w_m)$.

```python
flat = copy.deepcopy(model)
with torch.no_grad():
    for d in flat.dsam:
        d.activation_conv.weight.zero_(); d.activation_conv.bias.zero_()
print("trained:", val_scores(model), " uniform M:", val_scores(flat))
```

*What you should observe:* almost no change. We checked it on a network trained by
`python -m stavis_lib demo` (the same network, `cpu_demo` preset and validation videos as this
notebook, though not this notebook's own checkpoint): CC 0.237 → 0.237 and NSS 2.431 → 2.436 with
uniform attention, although on the clip of section 5 its $M^1$, $M^2$ and $M^3$ peak at 57, 31 and 15
times the uniform level ($M^4$ stays within 0.97-1.04 of it). The reason is the "1 +" of eq. 1:
$M^m$ sums to 1, so on the 32 × 32 grid of level 1 a cell at 57 × uniform is multiplied by only
1 + 57/1024 ≈ 1.06.
"""

EXERCISE_2 = r"""
**Exercise 2. The paper's network.** Build the full-size visual network (3D ResNet-50, 112×112 px,
16 frames, the network a GPU runtime trains) and read its shape table; compare with the CPU
network's table in section 1.

```python
big = stavis_lib.build_model("visual")
print(f"{sum(p.numel() for p in big.parameters()):,} parameters")
shape_table(big.eval(), torch.zeros(1, 3, 16, 112, 112))
```

*What you should observe:* 17,695,445 parameters (the CPU network of full CPU mode: 609,029);
attention grids of 56×56, 28×28, 14×14 and 7×7 cells (the CPU network at 64 px: 32, 16, 8 and 4);
$X^4$ with 1024 channels, because ResNet-50's bottleneck blocks expand the channels four times
(the CPU network's ResNet-10: 64); and the same $V$ of 4 × 16 = 64 channels at the frame size.
"""

EXERCISE_3 = r"""
**Exercise 3. Which term of the loss dominates?** Print the three weighted terms of eq. 11 for the
batch of section 2 and the untrained network `net`, with the CE summed over the pixels (eq. 8) and
averaged (the presets of this notebook):

```python
with torch.no_grad():
    out1 = net.train()(batch["frames"])
    p1 = torch.sigmoid(out1.visual)
    for reduction in ("sum", "mean"):
        print(reduction, {"0.1 D_CE": 0.1 * float(d_ce(out1.visual, batch["dense"], reduction).mean()),
                          "2 D_CC": 2 * float(d_cc(p1, batch["dense"]).mean()),
                          "1 D_NSS": float(d_nss(p1, batch["fix"]).nanmean())})
```

*What you should observe:* in full CPU mode (64 × 64 = 4096 pixels), summed, 0.1·D_CE is about
74, while 2·D_CC and D_NSS are a few units at most (their values depend on the random initial
weights: 0.07 and 0.36 in one run, 0.78 and 2.27 in another); averaged, 0.1·D_CE is about 0.02, the
smallest of the three. The size of a term is not the size of its gradient, though: summed, each
pixel's CE gradient with respect to its logit is 0.1·(P − Y_den); averaging divides it by the
number of pixels.
"""

EXERCISE_4 = r"""
**Exercise 4. Without deep supervision.** Train a fresh network with the loop of section 3 and
`deep_supervision=False` (the side weight of eq. 6 at 0: only $S^v$ is compared with the ground
truth) for the same number of steps, and compare the validation scores and the attention maps
with `loop_net`, which the loop trained with deep supervision:

```python
plain = tut.build("visual")
plain_log = train_loop(plain, cfg, steps, MICRO_BATCH, deep_supervision=False)
print("with:", val_scores(loop_net), " without:", val_scores(plain))
for name, n in (("with", loop_net), ("without", plain)):
    viz.plot_dsam_attention(item["display"], [a[0, 0] for a in tut.forward(n, item).attention], title=name);
```

*What you should observe:* `plain_log.side_weight` is 0 at every step and `plain_log.loss` is the
final-map term alone; without the side losses the activation convolutions that make $A^m$ learn
only through the re-weighting of eq. 1. Which network ends with the higher validation scores after
this short loop, and how far each one's attention maps are from uniform, we have not measured for
this notebook: that comparison is yours.
"""


CELLS = [
    md(TITLE),
    *common("RETRAIN = False   # True: train again even if the checkpoint exists\n"
            "LOOP_STEPS = None # steps of the notebook's own loop (None: 200; 2 in SMOKE)"),
    md(NETWORK),
    code("""
net = tut.build("visual")
print(net.config)
print({part: f"{n:,}" for part, n in net.parameter_parts().items()})
print(f"{sum(p.numel() for p in net.parameters()):,} parameters")
"""),
    code(DSAM_CODE),
    code(DSAM_CHECK),
    md(SHAPES_MD),
    code(SHAPES_CODE),
    md(LOSS_MD),
    code(LOSS_CODE),
    code(LOSS_CHECK),
    md(LOOP_MD),
    code(CONFIG_CODE),
    md(LOOP_MD2),
    code(LOOP_CODE),
    code(LOOP_RUN),
    md(FULL_MD),
    code(FULL_CODE),
    md(CURVES_MD),
    code(CURVES_CODE),
    md(CURVES_AFTER),
    md(ATTENTION_MD),
    code(ATTENTION_CODE),
    md(EVAL_MD),
    code(EVAL_CODE),
    code(BROWSE_CODE),
    md(EXERCISE_1),
    md(EXERCISE_2),
    md(EXERCISE_3),
    md(EXERCISE_4),
    md("""
A visual-only network can at best split its bet between the moving objects: it cannot know which
one sounds. Notebook **03** adds the sound.
"""),
]
