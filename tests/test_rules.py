"""runtime/rules.py: the torch-free rules between a controller's decision and the variant that runs."""
import pytest

from xslim_compile.plan import Variant
from xslim_compile.runtime.rules import (CacheFacts, VariantKey, fallback, forecast_plan, full_key, known_step, locate,
                                         roll_caches, timestep_order)

from .test_layering import PACKAGE, _imported_modules

ALL = CacheFacts(delta=True, residuals=True, kv_and_prev=True, token_failed=None)


def test_fallback_names_the_missing_cache():
    assert all(fallback(v, "plan", "cond", ALL) is None for v in Variant)
    empty = CacheFacts(delta=False, residuals=False, kv_and_prev=False, token_failed=None)
    assert "no cached residual yet in branch 'cond'" in fallback(Variant.SKIP, "plan", "cond", empty)
    assert fallback(Variant.FULL, "plan", "cond", empty) is None
    no_blocks = CacheFacts(delta=True, residuals=False, kv_and_prev=True, token_failed=None)
    assert "no block residuals" in fallback(Variant.BLOCK, "plan", "cond", no_blocks)
    assert fallback(Variant.SKIP, "plan", "cond", no_blocks) is None
    no_kv = CacheFacts(delta=True, residuals=True, kv_and_prev=False, token_failed=None)
    assert "needs K/V" in fallback(Variant.TOKEN, "plan", "cond", no_kv)
    failed = CacheFacts(delta=True, residuals=True, kv_and_prev=True, token_failed="UnsupportedModelError: pad")
    assert fallback(Variant.TOKEN, "plan", "cond", failed) == "plan; fallback to full: UnsupportedModelError: pad"


def test_step_position_rules():
    assert known_step(3, 7, False) == (3, False)
    assert known_step(0, 7, False) == (0, True)      # index 0 after calls: a new generation
    assert known_step(None, 7, True) == (7, False)    # generation(): calls count
    assert known_step(None, 7, False) == (None, False)
    assert [timestep_order(t, last) for t, last in [(900, None), (800, 900), (800, 800), (999, 20)]] == \
        ["next", "next", "repeat", "restart"]
    assert locate(505.0, (999.0, 750.0, 500.0, 250.0)) == 2 and locate(None, (1.0,)) == 0


def imports_closure(path) -> set[str]:
    """Every module a source file imports, following the package's own modules (AST; the package's
    __init__ imports torch lazily at most, so an import check in a subprocess would prove nothing)."""
    todo, seen, found = [path], set(), set()
    while todo:
        current = todo.pop()
        seen.add(current)
        for module in _imported_modules(current):
            found.add(module)
            if module.split(".")[0] == "xslim_compile":
                target = PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py")
                if target.exists() and target not in seen:
                    todo.append(target)
    return found


def test_rules_and_what_they_import_use_neither_torch_nor_numpy():
    modules = imports_closure(PACKAGE / "runtime" / "rules.py")
    assert not {m.split(".")[0] for m in modules} & {"torch", "numpy"}
    assert {"xslim_compile.plan", "xslim_compile.forecast"} <= modules


def test_roll_caches_keeps_the_residual_history():
    full = {"delta.x": "d0", "residual.0.x": "r0", "kv.a.key": "k0"}
    caches, history, rolled = roll_caches({}, full, True, 3, [], 0)
    assert caches == full and history == [0] and rolled == []
    caches, history, rolled = roll_caches(caches, {"delta.x": "d1"}, False, 3, history, 2)   # a block step
    assert caches["delta.x"] == "d1" and caches["delta_prev.x"] == "d0" and history == [2, 0]
    caches, history, rolled = roll_caches(caches, {"delta.x": "d2", "probe.x": "p"}, True, 3, history, 3)
    assert (caches["delta.x"], caches["delta_prev.x"], caches["delta_prev2.x"]) == ("d2", "d1", "d0")
    assert "residual.0.x" not in caches and "probe.x" not in caches and history == [3, 2, 0] and rolled == ["d1", "d0"]
    # a token step returning its own delta_prev leaves only its residual as a clean forecast point
    caches, history, _ = roll_caches(caches, {"delta.x": "d3", "delta_prev.x": "mixed"}, False, 3, history, 4)
    assert history == [4] and "delta_prev2.x" not in caches and caches["delta_prev.x"] == "mixed"


def test_full_key_and_forecast_plan():
    assert full_key(frozenset({Variant.BLOCK, Variant.TOKEN}), False) == VariantKey(Variant.FULL, residuals=True, kv=True)
    assert full_key(frozenset({Variant.TOKEN}), True) == VariantKey(Variant.FULL)
    order, weights, note = forecast_plan("taylor1", 5, [3, 1])
    assert order == 2 and weights == pytest.approx((2.0, -1.0)) and note == "taylor1 from 3,1"
    assert forecast_plan("taylor1", 5, [3]) == (1, None, "taylor1: reuse (1 point)")
    assert forecast_plan("taylor1", 5, [3, 1], history_finite=False)[:2] == (1, None)
    assert forecast_plan("reuse", 5, [3, 1]) == (1, None, "")
