"""The planner on synthetic profiles (exact, fast): estimator choice per span, polish by measured cost,
and the profiling helpers; plus calibration with measured costs on a tiny model."""
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

import xslim_compile as xs
from tests.zoo import make_dit
from xslim_compile.planner import ErrorModel, PlanRule, plan_cost, simulate
from xslim_compile.plan import Plan, Variant
from xslim_compile.profiling import Profile, RunRecord, final_sample, interpolate_log, probe_steps

ESTIMATORS = ("reuse", "damped", "taylor1", "taylor2")


def fake_profile(g, steps=30, rows=2, tokens=16, width=8, hot_tokens=None) -> Profile:
    """Δ_t = A + g(t)·B; with hot_tokens, B is zero outside those tokens (a concentrated change)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(rows, tokens, width, generator=gen)
    b = torch.randn(rows, tokens, width, generator=gen)
    if hot_tokens is not None:
        b[:, hot_tokens:] = 0
    deltas = [a + g(t) * b for t in range(steps)]
    residuals = [torch.randn(6, 32, generator=gen) * 0.1 + 1 for _ in range(steps)]
    run = RunRecord("default", deltas, residuals, [torch.zeros(())] * steps, torch.ones(4))
    return Profile(steps, [run], None, None, "test", [[1.0] * 6] * steps, sensitivity=[1.0] * steps)


def test_a_straight_line_is_skipped_through_with_a_forecast_and_reuse_wins_past_a_bend():
    kink = 14
    model = ErrorModel(fake_profile(lambda t: float(min(t, kink))))
    rule = PlanRule(warn=0.3, crit=0.6, estimators=ESTIMATORS, costs={"full": 1.0, "skip": 0.01})
    steps = simulate(model, rule)
    computed = [t for t, s in enumerate(steps) if s.variant != "skip"]
    # before the bend every forecast of order >= 2 is exact, so the first span runs up to it
    first_span = [s.estimator for s in steps[4:kink]]
    assert set(first_span) <= {"taylor1", "taylor2"} and len(first_span) == kink - 4
    # the straight line overshoots once Δ stops moving: the span after the first computed step past
    # the bend is skipped with reuse (exact there), not with the line
    after = next(t for t in computed if t > kink)
    assert steps[after + 1].variant == "skip" and steps[after + 1].estimator == "reuse"
    assert all(s.variant == "skip" for s in steps[after + 1:-1])  # reuse is exact to the end


def test_a_cap_on_consecutive_skips_holds_and_the_last_step_is_planned_only_when_asked():
    model = ErrorModel(fake_profile(lambda t: 0.5 * t))  # a straight line: taylor1 is exact everywhere
    rule = PlanRule(warn=0.3, crit=0.6, estimators=("taylor1",), costs={"full": 1.0, "skip": 0.01})
    free = [s.variant for s in simulate(model, rule)]
    assert free == ["full"] * 4 + ["skip"] * 25 + ["full"]
    capped = "".join(s.variant[0] for s in simulate(model, replace(rule, max_span=5)))
    assert max(len(run) for run in capped.split("f")) == 5 and capped.startswith("ffff") and capped.endswith("f")
    assert [s.variant for s in simulate(model, replace(rule, last_full=False))] == ["full"] * 4 + ["skip"] * 26


def test_the_estimator_is_chosen_by_measured_error_not_fixed():
    bend = ErrorModel(fake_profile(lambda t: float(t) ** 0.5))
    line = ErrorModel(fake_profile(lambda t: 0.3 * t))
    history = [9, 8, 7]
    errors = {name: bend.span_error(name, history, 3) for name in ESTIMATORS}
    assert errors["taylor1"] < errors["reuse"]  # a gently bending curve: the line still helps
    assert line.span_error("taylor1", history, 10) < 1e-5 < 0.1 < line.span_error("reuse", history, 10)
    with pytest.raises(xs.ConfigError):
        xs.calibrate(profile=fake_profile(lambda t: t), estimators=("linear",))


def _polish_plan(token_cost):
    model = ErrorModel(fake_profile(lambda t: 0.05 * t * t, hot_tokens=8))
    rule = PlanRule(warn=0.2, crit=100.0, estimators=("reuse",), token_ratio=0.25,
                    costs={"full": 1.0, "skip": 0.01, "token": token_cost, "block": 0.9}, reuse=(4, 5))
    return simulate(model, rule), rule


def test_a_refresh_runs_where_it_buys_more_error_per_unit_of_measured_cost():
    # the change sits on 8 of 16 tokens: a token refresh of 25% removes the larger part of a skip's error
    steps, rule = _polish_plan(token_cost=0.3)
    kinds = [s.variant for s in steps[4:-1] if s.variant != "skip"]
    assert kinds and set(kinds) == {"token"}
    # the same partial refresh at nearly the price of a full step is worse value than a full step
    steps, _ = _polish_plan(token_cost=0.99)
    assert "token" not in [s.variant for s in steps]
    # never a variant that costs as much as full, whatever its error
    steps, _ = _polish_plan(token_cost=1.2)
    assert "token" not in [s.variant for s in steps]
    assert plan_cost(steps, rule.costs) <= len(steps)


def test_sensitivity_probes_and_interpolation():
    assert probe_steps(50, 6) == [6, 14, 22, 29, 37, 45] and probe_steps(50, 6, last=True)[-1] == 49
    assert probe_steps(8, 6) == [3, 4, 5, 6] and probe_steps(4, 3) == []
    curve = interpolate_log([(2, 1.0), (6, 16.0)], 8)
    assert curve[0] == curve[2] == 1.0 and curve[4] == pytest.approx(4.0) and curve[7] == pytest.approx(16.0)
    assert interpolate_log([], 3) == [1.0, 1.0, 1.0]


def test_schema_1_plans_still_load():
    old = {"schema": 1, "warn": 0.1, "crit": 0.2, "first_full": 2, "last_full": True, "source": {},
           "entries": [{"position": 0.0, "variant": "full"}, {"position": 0.5, "variant": "token", "token_ratio": 0.5}]}
    plan = Plan.from_dict(old)
    assert plan.costs == {} and all(e.estimator is None for e in plan.entries)
    assert plan.variants(5) == ["full", "full", "token", "skip", "full"]
    assert Plan.from_dict(plan.to_dict()).to_dict()["schema"] == 2


def tiny_sampler(module, seeds, steps=20):
    """DDIM on the tiny DiT with batched CFG: deterministic per seed."""
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(num_train_timesteps=1000)
    scheduler.set_timesteps(steps)
    x = torch.cat([torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(s)) for s in seeds])
    labels = torch.tensor([s % 10 for s in seeds] * 2)
    generation = module.generation(steps) if hasattr(module, "generation") else None
    with torch.no_grad(), (generation or torch.no_grad()):
        for t in scheduler.timesteps:
            out = module(torch.cat([x, x]), timestep=t.expand(2 * len(seeds)), class_labels=labels).sample
            x = scheduler.step(out[:, :4].chunk(2)[0], t, x).prev_sample
    return x


def test_calibration_with_measured_costs_never_plans_a_variant_dearer_than_full():
    model = make_dit(num_layers=6)
    profile = xs.profile(model, run=lambda m: tiny_sampler(m, [1, 2]), sensitivity_probes=2, progress=False)
    # two probes spread over the middle, and the last step (the run returns its final samples)
    assert len(profile.probes) == 3 and all(s > 0 for _, s in profile.probes)
    for target in (2.0, 2.5):
        plan = xs.calibrate(profile=profile, target_speedup=target)
        costs = plan.costs
        assert costs["full"] == 1.0 and {"skip", "skip2", "skip3", "block"} <= set(costs)
        planned = {e.variant.value for e in plan.entries}
        assert all(costs[v] < costs["full"] for v in planned - {"full"}), (planned, costs)
        assert plan.source["ideal_speedup"] >= target
    # an override is obeyed: a token step priced above full is never planned
    plan = xs.calibrate(profile=profile, target_speedup=2.5, costs={"token": 1.5, "block": 1.5})
    assert {e.variant for e in plan.entries} <= {Variant.FULL}


def test_the_last_step_is_planned_only_where_the_final_samples_are_observed():
    model = make_dit(num_layers=6)
    observed = xs.profile(model, run=lambda m: tiny_sampler(m, [1, 2]), sensitivity_probes=2, progress=False)
    hidden = xs.profile(model, run=lambda m: [tiny_sampler(m, [1, 2])] and None, sensitivity_probes=2, progress=False)
    T = observed.num_steps
    assert observed.plans_last_step and [p for p, _ in observed.probes][-1] == T - 1
    assert not hidden.plans_last_step and len(hidden.probes) == 2 and all(p < T - 1 for p, _ in hidden.probes)
    # DDIM ends at alpha_bar -> 1: an error in the last step's output barely moves the sample
    assert observed.probes[-1][1] < 0.1 * min(s for _, s in observed.probes[:-1])
    unseen = xs.calibrate(profile=hidden, target_speedup=2.0)
    assert unseen.last_full and unseen.variants(T)[-1] == "full"
    seen = xs.calibrate(profile=observed, target_speedup=2.0)
    assert not seen.last_full and seen.variants(T)[-1] == "skip"
    assert seen.source["ideal_speedup"] >= 2.0


def test_final_samples_are_read_from_tensors_arrays_pipeline_outputs_and_tuples():
    x = torch.ones(2, 3)
    assert torch.equal(final_sample(x), x) and torch.equal(final_sample((x, None)), x)
    assert torch.equal(final_sample(SimpleNamespace(images=x.numpy())), x)
    assert final_sample(None) is None and final_sample([object()]) is None
    assert final_sample(torch.ones(2, dtype=torch.long)) is None
