"""What the results page says about each table and figure: one sentence per table and figure, their
titles and order, the dataset names, and the notes on frame convention, boxes and the θ rule.
"""

from __future__ import annotations


#: One sentence per table of the pipeline: what it shows.
TABLE_NOTES = {
    "main_results": "Frame-level detection on the test split: every method trained with video-level labels only, "
                    "its epoch selected on validation; the oracle is trained with frame labels and bounds what "
                    "the features allow. Within-video AUC: the mean over anomalous test videos of the AUC of "
                    "their own frames (does the score find the anomaly inside its video?). Δ: the difference to "
                    "the reference method with its 95 % interval.",
    "main_differences": "Every method's difference to the reference method on every metric (method − reference), "
                        "with its 95 % interval: *resolved* when the interval excludes 0.",
    "auc_split": "Pooled frame AUC split into its frame pairs: pooled = w · AUC(within-video pairs) + (1 − w) · "
                 "AUC(cross-video pairs), w the share of (anomalous, normal) frame pairs inside one video. With w "
                 "small, pooled AUC mostly says whether anomalous videos score higher than normal ones.",
    "per_class_auc": "Frame AUC per anomaly class (that class's anomalous test videos with every normal test video), "
                     "mean over seeds [95 % interval].",
    "training_runs": "Every training run: the epoch selected on validation and its validation score.",
    "localization": "Spatial localization on the test split with STPrompt's temporal scores and θ chosen on "
                    "validation: the training-free spatial stream against bare class names as queries and "
                    "appearance-free boxes (largest motion, whole frame, random window); Δ TIoU: the difference "
                    "to the spatial stream with its 95 % interval.",
    "localization_differences": "Every localizer's difference to the spatial stream on every localization metric "
                                "(localizer − stprompt), with its 95 % interval.",
    "dataset_summary": "The generated data: videos, snippets and annotated anomalous frames per split and class "
                       "(training videos carry video labels only).",
    "zero_shot": "The tiny CLIP pretrained by 00_pretrain_vlm: zero-shot accuracy on held-out captioned images "
                 "(which category; is the crop anomalous?).",
    "zero_shot_by_kind": "The same two accuracies on object-centred crops and on windows of the feature grid (the "
                         "images the spatial stream and SA2 ask the CLIP about).",
    "feature_probes": "What the features can tell apart with exact labels (a diagnostic, not a method): logistic "
                      "regressions cross-validated over videos (5 folds grouped by video), ROC-AUC over snippets — "
                      "the frame feature, SA2's input, the window holding the anomaly against normal videos' "
                      "windows, and the motion prior alone; per split and class (stprompt/probe.py). Every change to "
                      "the CLIP or the feature recipe shows here what it bought.",
    "motion_overlap": "Does the motion prior point at the anomaly? How often SA2's top-K windows by motion overlap "
                      "the anomaly box, against K windows at random.",
}

FIGURE_NOTES = {
    "roc": "ROC curves of every method on the test frames (first seed).",
    "score_curves": "Frame scores along test videos, ground truth shaded.",
    "training_curves": "Training loss and validation score per epoch; selected epochs marked.",
    "localization_examples": "Spatial stream on test frames: predicted box (solid), ground truth (dashed), "
                             "window scores as colour; failures included.",
    "tiou_theta": "TIoU against the temporal threshold θ on validation and test; θ chosen on validation marked.",
    "sample_frames": "Sample frames of every class with their anomaly boxes.",
    "anomaly_area": "Distribution of anomaly box area over annotated frames.",
    "motion_windows": "The motion prior on sample snippets and the top-K windows SA2 keeps.",
    "zero_shot_examples": "Zero-shot predictions of the tiny CLIP on held-out images.",
    "pretrain_loss": "Contrastive loss of the tiny CLIP during pretraining.",
}

#: Section titles of the pipeline's tables.
TABLE_TITLES = {"main_results": "Detection", "main_differences": "Detection: differences to the reference",
                "auc_split": "Within- and cross-video pairs", "per_class_auc": "Detection per class",
                "training_runs": "Training runs", "localization_differences": "Localization: differences to the spatial stream",
                "localization": "Localization", "dataset_summary": "The data", "zero_shot": "The tiny CLIP",
                "zero_shot_by_kind": "The tiny CLIP on crops and on grid windows",
                "feature_probes": "What the features can tell apart (linear probes)", "motion_overlap": "The motion prior"}

#: Order of the sections of the page (names not listed come after, alphabetically).
TABLE_ORDER = ["main_results", "main_differences", "auc_split", "per_class_auc", "training_runs", "localization",
               "localization_differences", "dataset_summary",
               "zero_shot", "zero_shot_by_kind", "feature_probes", "motion_overlap"]
FIGURE_ORDER = ["roc", "score_curves", "training_curves", "localization_examples", "tiou_theta",
                "sample_frames", "anomaly_area", "motion_windows", "zero_shot_examples", "pretrain_loss"]

#: Metrics drawn in the ablation bar charts (key -> axis label).
ABLATION_PLOT_METRICS = {"auc_micro": "frame AUC", "tiou": "TIoU"}

SCALE_GRID = "anomaly_scale"  # the grid whose points make the anomaly-scale sweep figure

#: Display names of the real datasets (keys of :data:`PAPER_NUMBERS`).
DATASET_NAMES = {"ucf_crime": "UCF-Crime", "shanghaitech": "ShanghaiTech", "ubnormal": "UBnormal"}

#: How each real dataset's ground truth counts frames (what the page states).
FRAME_CONVENTION_NOTES = {
    ("ucf_crime", "sultani"): "`sultani`, the dataset authors' MATLAB evaluation: temporal segments are 1-based with "
                              "inclusive ends, clipped to the video (segment `40 120` labels 0-based frames 39–119)",
    ("ucf_crime", "vadclip"): "`vadclip`, VadCLIP's `gt[s:e]`: temporal segments are 0-based and half-open "
                              "(segment `40 120` labels frames 40–119)",
    ("shanghaitech", None): "per-frame 0/1 masks (`test_frame_mask/<vid>.npy`, one entry per 0-based frame)",
    ("ubnormal", None): "tracks `object_id,start,end`, 0-based with inclusive ends",
}
BOX_NOTES = {
    "ucf_crime": "Liu & Ma boxes: `image_N.jpg` is 0-based frame N − 1, corners `(x1, y1, x2, y2)` are 1-based "
                 "inclusive and become `(x1 − 1, y1 − 1, x2, y2)`, scaled from 320×240 to the decoded frame",
    "shanghaitech": "regions from the test pixel masks (8-connected components linked into tracks by overlap) or "
                    "the public track files (corners inclusive)",
    "ubnormal": "regions from the per-frame id masks of each tracked object",
}
THETA_NOTES = {"frame_labels": "Youden's J of the temporal frame scores against the validation frame labels",
               "video_labels": "Youden's J of the temporal frame scores of the held-out training videos against "
                               "their video labels (the dataset has no validation split with frame labels; the test "
                               "split is never looked at)"}
