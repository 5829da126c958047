"""The inductor backend on one small model (compiles are slow on CPU): parity and no recompiles,
with every variant kind in the schedule (each token bucket is one static shape)."""
import torch
from torch._dynamo.utils import counters

import xslim_compile as xs
from tests.helpers import rel_err
from tests.zoo import dit_inputs, make_dit

SCHEDULE = (["full", "full", "skip", "block", "token"] * 10)[:50]


def test_inductor_variants_match_and_a_50_step_run_does_not_recompile():
    model = make_dit(num_layers=3)
    opt = xs.optimize(model, xs.XSlimConfig(schedule=SCHEDULE, block_reuse=[2], token_ratio=0.5,
                                            backend="inductor"))
    timesteps = torch.linspace(980, 20, 50)
    inputs = [dict(dit_inputs(), timestep=torch.full((2,), float(t))) for t in timesteps]
    with opt.generation(num_steps=50):  # warm-up: captures, compiles and verifies (budget 1e-4)
        first = [opt(**kw).sample for kw in inputs]
    compiled_frames = counters["stats"]["unique_graphs"]
    with opt.generation(num_steps=50):
        second = [opt(**kw).sample for kw in inputs]
    assert counters["stats"]["unique_graphs"] == compiled_frames, "a 50-step run recompiled"
    assert opt.trace.variants()[-50:] == SCHEDULE
    with torch.no_grad():
        want = model(**inputs[0]).sample
    assert rel_err(second[0], want) <= 1e-4
    assert all(rel_err(a, b) <= 1e-5 for a, b in zip(first, second))
