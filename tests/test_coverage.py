"""The coverage zoo through the compiler: a fixed subset in `make test` with one entry per construct the
stack passes handle generically, and the whole zoo under `pytest -m coverage`."""
import pytest
import torch

from benchmarks.coverage import check
from tests.coverage_zoo import entries, excluded

ZOO = entries()
# entry -> token expected to build; each line names the construct it stands for
SUBSET = {
    "DiTTransformer2DModel": True,                 # one chain, adaLN
    "WanTransformer3DModel (Wan 2.1)": True,       # casts made in block 0 read by later blocks; rotary by in-place writes
    "HunyuanVideoTransformer3DModel": True,        # a text-refiner chain in front of double- and single-stream chains; masked attention
    "Kandinsky5Transformer3DModel": True,          # a text chain that feeds the image chain only as a side input
    "LatteTransformer3DModel": False,              # spatial and temporal blocks alternating between two ModuleLists
    "ConsisIDTransformer3DModel": False,           # a face cross-attention added between blocks (glue)
    "WanAnimateTransformer3DModel": False,         # an MLP ModuleList beside the blocks; face-adapter blocks between them
    "HiDreamImageTransformer2DModel": False,       # data-dependent MoE routing: a capture patch
    "OmniGenTransformer2DModel": True,             # a data-dependent Python if in its RoPE: a capture patch
    "QwenImageTransformer2DModel": True,           # joint text + image attention, complex RoPE (view_as_complex)
    "LuminaNextDiT2DModel": True,                  # RoPE tiled over heads (repeat keeps the token axis)
    "PRXTransformer2DModel": True,                 # text keys joined to the image keys inside the block (cat)
}


@pytest.mark.parametrize("name", sorted(SUBSET))
def test_subset_counts(name):
    with torch.no_grad():
        row = check(ZOO[name], inductor=False)
    assert row["counts"], row
    assert (row["token"] == "ok") == SUBSET[name], row["token"]


def test_zoo_covers_every_transformer_class():
    import inspect

    import diffusers.models.transformers as transformers

    classes = {n for n in dir(transformers) if inspect.isclass(getattr(transformers, n, None))
               and issubclass(getattr(transformers, n), torch.nn.Module)}
    covered = {e.cls for e in ZOO.values()} | set(excluded())
    assert classes == covered, (sorted(classes - covered), sorted(covered - classes))


@pytest.mark.coverage
@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_entry(name):
    with torch.no_grad():
        row = check(ZOO[name], inductor=False)
    assert row["counts"], row
