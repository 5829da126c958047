"""Call-site patches used during capture: keyed to real diffusers code, equivalent, and undone."""
import importlib
import inspect

import pytest
import torch

from tests.helpers import rel_err
from xslim_compile.capture_patches import PATCHES, capture_patches


def _owner(patch):
    module_name, _, attribute = patch.target.partition(":")
    owner_name, _, name = attribute.rpartition(".")
    return getattr(importlib.import_module(module_name), owner_name), name


@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.target.rpartition(":")[2])
def test_patch_targets_the_line_it_names(patch):
    owner, name = _owner(patch)
    assert patch.works_around in inspect.getsource(getattr(owner, name))


def test_patches_are_undone_after_capture():
    originals = [getattr(*_owner(p)) for p in PATCHES]
    with capture_patches():
        assert all(getattr(*_owner(p)) is p.replacement for p in PATCHES)
    assert [getattr(*_owner(p)) for p in PATCHES] == originals


def test_dense_moe_equals_routed_moe():
    from diffusers.models.transformers.transformer_hidream_image import MOEFeedForwardSwiGLU

    torch.manual_seed(0)
    moe = MOEFeedForwardSwiGLU(dim=16, hidden_dim=32, num_routed_experts=4, num_activated_experts=2).eval()
    x = torch.randn(2, 12, 16)
    with torch.no_grad():
        want = moe(x)
        with capture_patches():
            got = moe(x)
    assert rel_err(got, want) <= 1e-6


def test_omnigen_rope_on_the_device_equals_the_original():
    from diffusers.models.transformers.transformer_omnigen import OmniGenSuScaledRotaryEmbedding

    factors = {"short_factor": [1.0 + 0.1 * i for i in range(4)], "long_factor": [2.0 + 0.3 * i for i in range(4)]}
    rope = OmniGenSuScaledRotaryEmbedding(8, max_position_embeddings=64, original_max_position_embeddings=16,
                                          rope_scaling=factors)
    x = torch.randn(1, 4, 8)
    for length in (10, 40):  # below and above original_max_position_embeddings: short and long factors
        ids = torch.arange(length)[None]
        want = rope(x, ids)
        with capture_patches():
            got = rope(x, ids)
        assert all(rel_err(g, w) <= 1e-6 for g, w in zip(got, want))
