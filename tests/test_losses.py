"""The training losses (stprompt.losses) against hand-computed values, with padded batches."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from stprompt import losses


def _mask(lengths, t):
    return torch.arange(t)[None, :] < torch.tensor(lengths)[:, None]


def _logit(p):
    return math.log(p / (1 - p))


def test_topk_count_is_floor_t_over_16_plus_1():
    mask = _mask([1, 15, 16, 31, 32, 40], 40)
    assert losses.topk_count(mask).tolist() == [1, 1, 2, 2, 3, 3]


def test_topk_mil_bce_worked_example():
    # video 0: anomalous, 20 valid snippets -> k = floor(20/16)+1 = 2; top-2 probabilities 0.9, 0.7
    # video 1: normal, 5 valid snippets -> k = 1; top probability 0.3; its padding holds huge logits
    t = 20
    probs0 = [0.2] * t
    probs0[4], probs0[11] = 0.9, 0.7
    logits = torch.tensor([[_logit(p) for p in probs0],
                           [_logit(p) for p in [0.1, 0.3, 0.2, 0.05, 0.15]] + [10.0] * (t - 5)])
    mask = _mask([20, 5], t)
    label = torch.tensor([1.0, 0.0])
    # video scores 0.8 and 0.3: L = -(log 0.8 + log(1 - 0.3)) / 2
    expected = -(math.log(0.8) + math.log(0.7)) / 2
    assert losses.topk_mil_bce(logits, mask, label).item() == pytest.approx(expected, rel=1e-5)


def test_topk_gradient_reaches_the_selected_snippets_only():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0, 9.0]], requires_grad=True)
    mask = _mask([4], 5)  # the 9.0 is padding
    losses.topk_mil_bce(logits, mask, torch.tensor([1.0])).backward()
    grad = logits.grad[0]
    assert grad[1] != 0 and (grad[[0, 2, 3, 4]] == 0).all()


def test_masked_topk_mean_per_channel():
    # 17 valid snippets -> k = 2, taken separately for each channel
    x = torch.zeros(1, 18, 2)
    x[0, :17, 0] = torch.arange(17.0)  # top-2: 16, 15
    x[0, :17, 1] = -torch.arange(17.0)  # top-2: 0, -1
    x[0, 17] = 100.0  # padding
    out = losses.masked_topk_mean(x, _mask([17], 18))
    assert out.tolist() == [[15.5, -0.5]]


def test_mil_align_is_cross_entropy_of_topk_class_logits():
    # two videos, 3 classes (normal, fire, crash); video 0 has 17 valid snippets (k = 2), video 1 has 3 (k = 1)
    t = 17
    sim = torch.zeros(2, t, 3)
    sim[0, :, 0] = 1.0
    sim[0, 3, 1], sim[0, 9, 1] = 6.0, 4.0  # fire peaks at two different snippets
    sim[0, 5, 2] = 2.0  # crash: top-2 are 2.0 and 0.0
    sim[1, :3, 0] = torch.tensor([0.5, 2.5, 1.0])
    sim[1, :3, 2] = torch.tensor([3.0, 0.0, 0.0])
    sim[1, 3:] = 50.0  # padding must not count
    mask = _mask([17, 3], t)
    class_idx = torch.tensor([1, 0])
    s0 = [1.0, 5.0, 1.0]  # per class mean of the top 2
    s1 = [2.5, 0.0, 3.0]  # per class max
    expected = -((s0[1] - math.log(sum(math.exp(v) for v in s0)))
                 + (s1[0] - math.log(sum(math.exp(v) for v in s1)))) / 2
    assert losses.video_class_logits(sim, mask).tolist() == [s0, s1]
    assert losses.mil_align(sim, mask, class_idx).item() == pytest.approx(expected, rel=1e-5)


def test_text_separation_mean_absolute_cosine_to_normal():
    e1, e2 = torch.eye(3)[0], torch.eye(3)[1]
    assert losses.text_separation(torch.stack([e1, 2 * e1, e2])).item() == pytest.approx(0.5)
    assert losses.text_separation(torch.stack([e1, -e1, e2 + e1])).item() == pytest.approx(
        (1 + 1 / math.sqrt(2)) / 2)
    assert losses.text_separation(torch.stack([e1, e2])).item() == pytest.approx(0.0)


def test_mil_ranking_numbers():
    # anomalous maxima 0.8 and 0.6, normal maxima 0.3 and 0.9 (padding holds 1.0 and must not count)
    abn = torch.tensor([[0.1, 0.8, 0.4, 1.0], [0.6, 0.6, 0.2, 0.0]])
    mask_abn = _mask([3, 4], 4)
    norm = torch.tensor([[0.3, 0.1, 1.0], [0.9, 0.2, 0.3]])
    mask_norm = _mask([2, 3], 3)
    hinge = ((1 - 0.8 + 0.3) + (1 - 0.8 + 0.9) + (1 - 0.6 + 0.3) + (1 - 0.6 + 0.9)) / 4  # = 0.9
    smooth = ((0.7 ** 2 + 0.4 ** 2) + (0.0 + 0.4 ** 2 + 0.2 ** 2)) / 2
    sparse = ((0.1 + 0.8 + 0.4) + (0.6 + 0.6 + 0.2 + 0.0)) / 2
    assert losses.ranking_hinge(abn, mask_abn, norm, mask_norm).item() == pytest.approx(0.9)
    assert losses.smoothness(abn, mask_abn).item() == pytest.approx(smooth)
    assert losses.sparsity(abn, mask_abn).item() == pytest.approx(sparse)
    total = losses.mil_ranking(abn, mask_abn, norm, mask_norm, margin=1.0, lambda_smooth=0.5, lambda_sparse=0.1)
    assert total.item() == pytest.approx(hinge + 0.5 * smooth + 0.1 * sparse)
    # the hinge saturates at 0 once anomalous maxima exceed normal ones by the margin
    assert losses.ranking_hinge(abn + 2.0, mask_abn, norm, mask_norm).item() == 0.0


def test_mil_ranking_with_one_kind_only():
    abn = torch.tensor([[0.2, 0.5]], requires_grad=True)
    empty = torch.zeros(0, 2)
    only_abn = losses.mil_ranking(abn, _mask([2], 2), empty, _mask([], 2), lambda_smooth=1.0, lambda_sparse=1.0)
    assert only_abn.item() == pytest.approx(0.3 ** 2 + 0.7)  # no pair: smoothness + sparsity only
    only_norm = losses.mil_ranking(empty, _mask([], 2), abn, _mask([2], 2))
    assert only_norm.item() == 0.0
    only_norm.backward()  # still part of the graph


def test_snippet_bce_ignores_padding():
    logits = torch.tensor([[0.5, -1.0, 2.0], [1.5, 7.0, 7.0]])
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    mask = _mask([3, 1], 3)
    expected = F.binary_cross_entropy_with_logits(torch.tensor([0.5, -1.0, 2.0, 1.5]),
                                                  torch.tensor([1.0, 0.0, 1.0, 0.0]))
    assert losses.snippet_bce(logits, mask, labels).item() == pytest.approx(expected.item())
