"""Data files cannot run code and paths cannot escape: crafted annotation pickles and model
checkpoints are refused before anything in them runs; every pickle the suite reads loads with the
data-only unpickler."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import fixtures_datasets as fx
from stprompt.datasets import DatasetError, load_dataset
from stprompt.datasets.safe_pickle import RefusedPickle, load_data_pickle


class TouchesAFile:
    """Unpickling this calls ``open(path, "w")``: a stand-in for any code a file could run."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_crafted_liu_ma_pickle_is_refused_and_runs_nothing(tmp_path):
    target = tmp_path / "touched"
    crafted = {"Arrest001_x264": [["/x/Arrest001_x264/image_0006.jpg", 1, 1, 10, 10]],
               "payload": TouchesAFile(target)}
    for protocol in (0, 2, 4):
        path = tmp_path / f"crafted{protocol}.pkl"
        path.write_bytes(pickle.dumps(crafted, protocol=protocol))
        with pytest.raises(RefusedPickle, match=rf"crafted{protocol}\.pkl: refused to load: the pickle asks "
                                                rf"for (builtins|io)\.open.*nothing in the file was run"):
            load_data_pickle(path)
        assert not target.exists()
    # through the dataset reader: the error names the file, nothing runs
    root = fx.make_ucf_crime(tmp_path / "UCF_Crimes")
    (root / "UCFCrimeBBox" / "Test_annotation.pkl").write_bytes(pickle.dumps(crafted, protocol=0))
    with pytest.raises(DatasetError, match=r"Test_annotation\.pkl: refused to load"):
        load_dataset("ucf_crime", root, "test", {"boxes_file": "UCFCrimeBBox/Test_annotation.pkl"})
    assert not target.exists()


def test_the_pickles_the_suite_reads_are_plain_data(tmp_path):
    root = fx.make_ucf_crime(tmp_path / "UCF_Crimes")
    for name in ("Test_annotation.pkl", "Train_annotation.pkl"):  # py2 protocol 0, UNICODE in Train
        data = load_data_pickle(root / "UCFCrimeBBox" / name)
        assert isinstance(data, dict) and all(isinstance(k, str) for k in data)
    synth = fx.make_synthvad(tmp_path / "synth")  # SynthVAD's copy of the format (protocol 4)
    assert load_data_pickle(synth / "annotations" / "boxes_liu_ma.pkl") == {
        "test_fire_000": [["test_fire_000/000016.jpg", *fx.SYNTH_BOX]]}
    (tmp_path / "cut.pkl").write_bytes(pickle.dumps({"a": [1, 2]}, protocol=0)[:-3])
    with pytest.raises(DatasetError, match=r"cut\.pkl: not a readable pickle"):
        load_data_pickle(tmp_path / "cut.pkl")


def _trained(tmp_path: Path) -> Path:
    from stprompt.model import ModelConfig
    from stprompt.train import TrainConfig, TrainResult, save_checkpoint

    model = torch.nn.Linear(4, 2)
    result = TrainResult(model, [{"epoch": 0, "val": np.float64(0.5), "seconds": 0.0}], 0, "video_auc",
                         np.float32(0.5), 1.0)
    return save_checkpoint(tmp_path / "m.pt", result, ModelConfig(method="mil"), TrainConfig(),
                           ["normal", "Abuse"], {"recipe_hash": "abc", "backbone": {"backbone": "tiny_clip"}})


def test_checkpoints_are_plain_data_read_with_weights_only(tmp_path):
    from stprompt.train import load_checkpoint

    path = _trained(tmp_path)
    raw = torch.load(path, map_location="cpu", weights_only=True)  # loads: nothing but tensors and data
    assert set(raw["state_dict"]) == {"weight", "bias"} and raw["history"][0]["val"] == 0.5
    assert type(raw["best_score"]) is float and raw["class_names"] == ["normal", "Abuse"]
    payload = load_checkpoint(path)
    assert payload["format"] == "stprompt-model-1" and payload["model_config"]["method"] == "mil"


def test_a_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path):
    from stprompt.train import load_checkpoint

    target = tmp_path / "touched"
    torch.save({"format": "stprompt-model-1", "state_dict": {}, "payload": TouchesAFile(target)},
               tmp_path / "crafted.pt")
    with pytest.raises(ValueError, match=r"crafted\.pt: not a readable checkpoint; only tensors and plain "
                                         r"data are loaded \(weights_only=True\), nothing in the file was run"):
        load_checkpoint(tmp_path / "crafted.pt")
    assert not target.exists()
