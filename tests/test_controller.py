"""Controllers driven with scripted indicators; exact decision traces. Imports only the runtime side."""
import pytest

from xslim_compile.errors import ConfigError
from xslim_compile.plan import ControllerSettings, Plan, PlanEntry, Variant
from xslim_compile.runtime.controller import (DualThresholdController, EveryNController, PlanController,
                                              ScheduleController, StepInfo, TeaCacheController)

F, S, B, T = Variant.FULL, Variant.SKIP, Variant.BLOCK, Variant.TOKEN


def drive(controller, indicators, num_steps=None, branch="default", honour=lambda step, v: v):
    """Run a controller over one generation; `honour` lets a test override what actually ran."""
    ran = []
    for step, indicator in enumerate(indicators):
        info = StepInfo(step, num_steps, branch)
        if indicator is not None:
            controller.observe(info, {"indicator": indicator})
        decision = controller.decide(info)
        variant = honour(step, decision.variant)
        controller.commit(info, variant)
        ran.append(variant)
    return ran


def settings(**overrides):
    base = dict(warn=0.10, crit=0.25, ratio_curve=((0.0, 1.0), (1.0, 1.0)), refresh_curve=(),
                first_full=2, last_full=True, max_skips=10)
    base.update(overrides)
    return ControllerSettings(**base)


def test_push_polish_and_reset():
    # estimates (ratio 1): each skip adds to both lines; refresh resets the short one; full resets both
    indicators = [None, 0.5, 0.04, 0.04, 0.04, 0.04, 0.04, 0.04, 0.04, 0.04, 0.04, 0.3]
    ran = drive(DualThresholdController(settings(), num_steps=12), indicators, num_steps=12)
    # steps 0-1 first_full; 2: 0.04 skip; 3: 0.08 skip; 4: 0.12 >= warn -> block (short line reset,
    # long 0.12); 5: 0.04/0.16 skip; 6: 0.08/0.20 skip; 7: 0.12/0.24 -> block; 8: 0.04/0.28 >= crit -> full;
    # 9: 0.04 skip; 10: 0.08 skip; 11: last step full
    assert ran == [F, F, S, S, B, S, S, B, F, S, S, F]


def test_the_reasons_name_the_lines():
    controller = DualThresholdController(settings(), num_steps=12)
    info = StepInfo(5, 12, "default")
    controller.observe(info, {"indicator": 0.05})
    decision = controller.decide(info)
    assert decision.variant is S and decision.reason == "err 0.05 < warn 0.1"
    assert decision.signals["err"] == pytest.approx(0.05) and decision.signals["warn"] == 0.1


def test_ratio_curve_rescales_the_indicator():
    curve = ((0.0, 1.0), (0.5, 10.0), (1.0, 1.0))  # the middle of the run counts ten times more
    ran = drive(DualThresholdController(settings(ratio_curve=curve, first_full=0), num_steps=11),
                [None] + [0.02] * 10, num_steps=11)
    # estimates 0.02 x (2.8, 4.6, 6.4, 8.2, 10, 8.2, 6.4, 4.6, 2.8): the middle steps cross the lines fast
    assert ran == [F, S, B, F, B, F, B, F, S, B, F]
    flat = drive(DualThresholdController(settings(first_full=0), num_steps=11), [None] + [0.02] * 10, num_steps=11)
    assert flat == [F, S, S, S, S, B, S, S, S, S, F]


def test_token_refresh_where_the_curve_says_token():
    ran = drive(DualThresholdController(settings(refresh_curve=((0.0, "token"),), first_full=1), num_steps=8),
                [None, 0.06, 0.06, 0.06, 0.06, 0.06, 0.06, 0.06], num_steps=8)
    assert ran == [F, S, T, S, T, F, S, F]  # long line: 0.06, 0.12, 0.18, 0.24, 0.30 -> full at step 5


def test_max_skips_forces_a_refresh_and_first_last_steps_are_full():
    ran = drive(DualThresholdController(settings(max_skips=2), num_steps=9), [None] + [0.0] * 8, num_steps=9)
    assert ran == [F, F, S, S, B, S, S, B, F]


def test_no_indicator_means_full_and_a_forced_full_resets_the_lines():
    controller = DualThresholdController(settings(first_full=0), num_steps=10)
    # the runtime had to run full at step 3 (e.g. a cache was missing): both lines reset
    ran = drive(controller, [None, 0.06, 0.06, 0.06, 0.06, 0.06], num_steps=10,
                honour=lambda step, v: F if step == 3 else v)
    assert ran == [F, S, B, F, S, B]


def test_branches_keep_their_own_lines():
    controller = DualThresholdController(settings(first_full=0), num_steps=10)
    for step, (a, b) in enumerate([(None, None), (0.06, 0.01), (0.06, 0.01)]):
        for branch, indicator in (("cond", a), ("uncond", b)):
            info = StepInfo(step, 10, branch)
            if indicator is not None:
                controller.observe(info, {"indicator": indicator})
            decision = controller.decide(info)
            controller.commit(info, decision.variant)
            if step == 2:
                assert decision.variant is (B if branch == "cond" else S)


def test_warn_must_be_below_crit():
    with pytest.raises(ConfigError, match="warn"):
        DualThresholdController(settings(warn=0.3, crit=0.3))


def test_teacache_like_skips_without_polish():
    ran = drive(TeaCacheController(0.1, ((0.0, 1.0),), first_full=1, num_steps=8), [None] + [0.04] * 7, num_steps=8)
    assert ran == [F, S, S, F, S, S, F, F]


def test_every_n_controllers():
    assert drive(EveryNController(3), [None] * 7, num_steps=7) == [F, S, S, F, S, S, F]
    delta_dit = EveryNController(2, between=B, reuse=(4, 5))
    decision = delta_dit.decide(StepInfo(1, 10, "default"))
    assert decision.variant is B and decision.reuse == (4, 5)
    assert delta_dit.may_follow(StepInfo(0, 10, "default")) == {B}


def test_schedule_and_plan_controllers():
    schedule = ScheduleController([F, S, B, F, T])
    assert schedule.may_follow(StepInfo(0, 5, "default")) == {S, B}
    assert schedule.may_follow(StepInfo(3, 5, "default")) == {T}
    assert schedule.decide(StepInfo(7, None, "default")).variant is F
    plan = Plan(0.1, 0.2, entries=(PlanEntry(0.0, F), PlanEntry(0.5, B, (4,)), PlanEntry(0.75, T, None, 0.7),
                                   PlanEntry(1.0, F)), source={"num_steps": 5})
    controller = PlanController(plan)
    assert [controller.decide(StepInfo(i, 5, "default")).variant for i in range(5)] == [F, S, B, T, F]
    assert controller.decide(StepInfo(3, 5, "default")).token_ratio == 0.7
    assert [controller.decide(StepInfo(i, 9, "default")).variant for i in range(9)] == [F, S, S, S, B, S, T, S, F]
    assert [controller.decide(StepInfo(i, None, "default")).variant for i in range(5)] == [F, S, B, T, F]


def test_accumulated_residual_block_rule():
    from xslim_compile.runtime.policies import select_reuse_blocks

    energies = [5.0, 5.0, 1.0, 1.0, 1.0, 3.0, 1.0, 1.0]
    # first 2 blocks of each chain always run; running sums: b2 1, b3 2, b4 3 > 2.5 -> run (reset),
    # b5 3 > 2.5 -> run, b6 1, b7 2
    assert select_reuse_blocks(energies, chain_starts=[0], always_compute=2, threshold=2.5) == (2, 3, 6, 7)
    # a second chain starting at block 4 restarts the always-computed prefix
    assert select_reuse_blocks(energies, chain_starts=[0, 4], always_compute=2, threshold=2.5) == (2, 3, 6, 7)
    assert select_reuse_blocks(energies, chain_starts=[0, 4], always_compute=3, threshold=2.5) == (3, 7)
    # default threshold: the median of the sizes (0.4); sums 1.0 run, 0.4 reuse, 0.8 run, 0.4 reuse, 2.4 run
    assert select_reuse_blocks([1.0, 0.4, 0.4, 0.4, 2.0], [0], 0) == (1, 3)
