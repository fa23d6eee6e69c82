"""How sure a number is, and what pooled frame AUC measures: within-video AUC, the split of pooled
AUC into within- and cross-video pairs, and a paired video-level bootstrap.

Pooled (micro) frame AUC, the field's protocol, is the probability that an anomalous frame scores
above a normal frame, over *all* (anomalous, normal) frame pairs of the test set. Most pairs come
from two different videos (every frame of a normal video is paired with every anomalous frame of
every other video), so the number largely says whether anomalous videos score higher than normal
ones, not whether the anomaly is found inside its video. Hence two companions:

- **within-video AUC**: the mean, over anomalous test videos holding both anomalous and normal
  frames, of the AUC of the video's own frames (each video weighs the same);
- **the split of pooled AUC**: with ``w`` the share of (anomalous, normal) frame pairs that lie in
  one video, ``AUC_pooled = w · AUC_within-pairs + (1 − w) · AUC_cross-pairs`` exactly (Mann–Whitney
  counting with ties as ½ on both sides); ``AUC_within-pairs`` weighs each video by its pairs.

**Paired video-level bootstrap.** Test videos are resampled with replacement ``n_boot`` times
(seeded, so an interval is reproducible); every method of a table is evaluated on the *same*
resamples, so differences between methods are paired and their interval is much narrower than the
two intervals side by side. Seeds enter as a second level: on each resample the metric is computed
for every seed and averaged over seeds, which is the number the tables report (mean over seeds);
the interval therefore covers test-set sampling of that mean, while the ± std next to it is the
seed-to-seed spread. Intervals are the 2.5 and 97.5 percentiles. A difference is **resolved** when
its 95 % interval excludes 0, otherwise **unresolved** — not a win and not a loss.

Every computation is exact on per-frame inputs but runs on per-video groups of tied scores (frames
of one snippet share its score), so a bootstrap of 1000 resamples over a SynthVAD test set takes
well under a second per method and seed (0.4 s for 90 videos of 128–512 frames, measured while
the project's 2-core machine was busy). Frame counts are weights: a resample that draws a video
twice counts its frames twice, exactly as if the video were in the test set twice under another
name.

**What is reported where.** One level is reported everywhere (main table, per-class table,
localization table, ablation summaries, the results page): *test-set resampling with the seeds
folded in* — per resample, each seed's metric on the resampled test set, then their mean. The
number in a table is that mean on the test set itself, ``± std`` the sample std over seeds (the
seed-to-seed spread, not an interval), and ``[lo, hi]`` the 2.5 and 97.5 percentiles of the
:data:`N_BOOT` = 1000 resampled means (percentile interval). Resamples are drawn from
:data:`BOOT_SEED` = 0, so the same command gives the same intervals. Models, epochs and θ are held
fixed (chosen on validation); only the test videos are resampled.

**Localization metrics** are bootstrapped exactly from per-video sums (:class:`LocalizationParts`):
TIoU is a ratio of two sums over videos (IoU terms of the annotated anomalous frames, their
count); RBDC/TBDC's curves count false positives, frames, detected regions and tracks, each a sum
over videos of a count at every threshold; pixel AUC is a Mann–Whitney count over per-video groups
of tied pixel scores, like the frame AUC. Nothing is approximated.

**How many videos would resolve a difference** (:func:`videos_to_resolve`): the interval's
half-width on the side of 0 shrinks like ``1/sqrt(n)`` in the number ``n`` of test videos, so an
unresolved difference ``d`` with half-width ``h`` toward 0 would need about ``n · (h / |d|)²``
videos to exclude 0, if the effect and the per-video spread stay as measured.

The parts live in submodules, every name importable from here as before: :mod:`.detection` (frames
grouped by tied score; the detection metrics of a resampled test set; within-video AUC and the split
of pooled AUC), :mod:`.localization` (per-video sums of TIoU, RBDC, TBDC and pixel AUC),
:mod:`.bootstrap` (the paired bootstrap) and :mod:`.reading` (reading and formatting a difference).
"""

from __future__ import annotations

from .detection import (  # noqa: F401
    auc_decomposition, LOCALIZATION_METRICS, METRIC_NAMES, METRICS, metrics_on_resamples,
    score_groups, ScoreGroups, weighted_ap, weighted_auc, within_pair_share, within_video_auc,
    _tie_starts, _video_aucs)
from .localization import (  # noqa: F401
    localization_parts, LocalizationParts, _areas_to)
from .bootstrap import (  # noqa: F401
    BOOT_SEED, bootstrap, combine, detection_evaluation, Evaluation, interval, LEVEL,
    localization_evaluation, N_BOOT, paired_bootstrap, per_class_evaluation,
    resample_multiplicity, _is_resolved)
from .reading import (  # noqa: F401
    claim_status, format_difference, format_estimate, format_interval, reverse, verdict,
    videos_to_resolve, _claim_unresolved)
