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
