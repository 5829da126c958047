"""Plans as data: JSON round trip, step-count mapping, and the errors for plans that do not fit."""
import json

import pytest

import xslim_compile as xs
from tests.zoo import dit_inputs, make_dit, make_pixart
from xslim_compile.plan import SCHEMA_VERSION, ControllerSettings, Plan, PlanEntry, Variant, config_hash


def _plan(**source):
    entries = (PlanEntry(0.0, Variant.FULL), PlanEntry(0.25, Variant.FULL), PlanEntry(0.5, Variant.BLOCK, (2, 3)),
               PlanEntry(0.75, Variant.TOKEN, None, 0.5), PlanEntry(1.0, Variant.FULL))
    return Plan(0.05, 0.15, entries=entries, source={"num_steps": 9, **source})


def test_json_round_trip(tmp_path):
    plan = _plan(model_class="DiTTransformer2DModel")
    again = Plan.load(plan.save(tmp_path / "plan.json"))
    assert again == plan
    assert json.loads((tmp_path / "plan.json").read_text())["schema"] == SCHEMA_VERSION
    online = Plan(0.1, 0.3, controller=ControllerSettings(0.1, 0.3, ((0.0, 1.0), (1.0, 2.0)), ((0.5, "token"),)))
    assert Plan.from_dict(json.loads(json.dumps(online.to_dict()))) == online


def test_positions_map_onto_other_step_counts():
    plan = _plan()
    assert plan.variants(9) == ["full", "skip", "full", "skip", "block", "skip", "token", "skip", "full"]
    assert plan.variants(5) == ["full", "full", "block", "token", "full"]
    # 0.25 and 0.5 both land on step 1 of 3 (0.5 rounds up): the stronger, full, wins
    assert plan.variants(3) == ["full", "full", "full"]


def test_bad_plans_name_the_field():
    with pytest.raises(xs.ConfigError, match="warn"):
        Plan(0.2, 0.2, entries=())
    with pytest.raises(ValueError, match="exactly one"):
        Plan(0.1, 0.2)
    newer = dict(_plan().to_dict(), schema=SCHEMA_VERSION + 1)
    with pytest.raises(xs.ConfigError, match="schema"):
        Plan.from_dict(newer)


def test_plan_from_another_model_or_config_is_refused():
    dit = make_dit()
    with pytest.raises(xs.ConfigError, match="model_class"):
        xs.optimize(make_pixart(), xs.XSlimConfig(plan=_plan(model_class="DiTTransformer2DModel")))
    with pytest.raises(xs.ConfigError, match="config_hash"):
        xs.optimize(make_dit(num_layers=6), xs.XSlimConfig(plan=_plan(config_hash=config_hash(dit))))
    xs.optimize(dit, xs.XSlimConfig(plan=_plan(model_class="DiTTransformer2DModel", config_hash=config_hash(dit))))


def test_plan_block_index_past_the_model_is_refused_at_capture():
    plan = Plan(0.05, 0.15, entries=(PlanEntry(0.0, Variant.FULL), PlanEntry(0.5, Variant.BLOCK, (2, 7))),
                source={"num_steps": 3})
    opt = xs.optimize(make_dit(), xs.XSlimConfig(plan=plan))
    with pytest.raises(xs.ConfigError, match=r"reuses blocks \[7\].*0\.\.3"):
        opt(**dit_inputs())


def test_plan_and_schedule_are_exclusive():
    with pytest.raises(ValueError, match="either a plan or a schedule"):
        xs.XSlimConfig(plan=_plan(), schedule=["full"])


def test_a_plan_runs_its_entries():
    model = make_dit()
    opt = xs.optimize(model, xs.XSlimConfig(plan=_plan(), always_compute_blocks=1))
    with opt.generation(num_steps=9):
        for t in range(9):
            opt(**dit_inputs(timestep=900.0 - 100 * t))
    assert opt.trace.variants() == _plan().variants(9)
    assert opt.trace[4].detail == "2,3" and opt.trace[6].detail == "k=8"


def test_first_and_last_steps_stay_full_at_any_step_count():
    plan = Plan(0.05, 0.15, entries=(PlanEntry(0.0, Variant.FULL), PlanEntry(0.5, Variant.FULL)),
                first_full=3, last_full=True, source={"num_steps": 10})
    for steps in (4, 10, 37):
        variants = plan.variants(steps)
        assert variants[:3] == ["full"] * 3 and variants[-1] == "full"
    assert Plan.from_dict(plan.to_dict()) == plan
