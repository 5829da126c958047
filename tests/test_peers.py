"""The peer caching methods of benchmarks/peers.py on the reference model: they cache, stay close to
full compute, and forget their caches between generations. One sample, 20 DDIM steps, to stay fast."""
import numpy as np
import pytest
import torch

pytest.importorskip("cache_dit")

from benchmarks import peers  # noqa: E402
from benchmarks.metrics import psnr  # noqa: E402
from benchmarks.reference.data import to_pixel_space  # noqa: E402
from benchmarks.reference.sampler import sample  # noqa: E402

pytestmark = pytest.mark.slow
STEPS = 20
LABELS, SEEDS = [3], [0]
CALIBRATION = ([7], [10_000])  # not the evaluated seed


@pytest.fixture(scope="module")
def model():
    from benchmarks.reference.model import load_dit

    return load_dit()


@pytest.fixture(scope="module")
def reference(model):
    return to_pixel_space(sample(model, LABELS, SEEDS, num_steps=STEPS))


def run(denoiser):
    """Samples in pixel space and the number of blocks run per step."""
    with peers.count_blocks(denoiser) as counts:
        x = sample(denoiser, LABELS, SEEDS, num_steps=STEPS)
    return to_pixel_space(x), counts


@pytest.mark.parametrize("name, settings, bound", [
    # measured here: 27.9 dB and 8 of 20 steps cached; the calibrator lifts the same steps to 41.8 dB
    ("dbcache", {"Fn": 2, "residual_diff_threshold": 0.08, "max_warmup_steps": 4}, 24.0),
    ("dbcache_taylorseer", {"Fn": 2, "residual_diff_threshold": 0.08, "max_warmup_steps": 4,
                            "taylorseer_order": 1}, 35.0),
    ("magcache", {"threshold": 0.03, "max_skip_steps": 2}, 24.0),  # 27.8 dB, 9 of 20 steps skipped
])
def test_peer_caches_close_to_full_and_forgets_between_generations(model, reference, name, settings, bound):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    peer = peers.make_peer(name, model, settings, calibration=CALIBRATION, num_steps=STEPS)
    first, counts = run(peer)
    second, _ = run(peer)
    layers = len(model.transformer_blocks)
    assert len(counts) == STEPS and sum(c == layers for c in counts) < STEPS  # some steps reused caches
    assert float(psnr(first, reference)[0]) > bound
    assert np.array_equal(first, second)  # the second generation did not read the first one's caches
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert not hasattr(model, "_context_manager") and not model._forward_hooks  # the model itself is untouched
    if name != "magcache":
        assert len(peer.cached_steps()) == sum(c < layers for c in counts)  # cache-dit's stats agree


def test_bad_settings_and_missing_calibration_raise(model):
    with pytest.raises(ValueError, match="unknown settings"):
        peers.make_peer("dbcache", model, {"Fn_compute_blocks": 2})
    with pytest.raises(ValueError, match="unknown settings"):
        peers.make_peer("dbcache", model, {"taylorseer_order": 2})  # only with the calibrator
    with pytest.raises(ValueError, match="unknown settings"):
        peers.describe("magcache", {"thresh": 0.1})
    with pytest.raises(ValueError, match="Fn"):
        peers.make_peer("dbcache", model, {"Fn": 10, "Bn": 4})
    with pytest.raises(ValueError, match="calibration"):
        peers.make_peer("magcache", model, {"threshold": 0.1})
    with pytest.raises(ValueError, match="unknown peer"):
        peers.make_peer("teacache", model, {})
    assert "cache-dit 1.5" in peers.describe("dbcache_taylorseer", {"Fn": 1}) and "taylorseer_order=1" in \
        peers.describe("dbcache_taylorseer", {"Fn": 1})
    assert set(peers.versions()) == {"cache-dit", "diffusers"}
