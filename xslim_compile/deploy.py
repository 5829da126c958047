"""Run an xs.export bundle with onnxruntime and numpy alone (no torch).

    runner = Runner("bundle/")
    with runner.generation(num_steps=50):          # marks one generation: caches start empty
        for t in timesteps:
            noise_pred = runner(hidden_states=x, timestep=t_array, class_labels=labels)[0]

Each call is one denoising step of one branch; the step index counts the calls inside
`generation()` (as OptimizedDenoiser.generation does; there is no scheduler clock here). The choice of
variant is made by the same pure-Python code as the PyTorch runtime (runtime/controller.py for the
plan or schedule, runtime/rules.py for fallbacks, forecast order and the cache roll), so a fixed plan
gives the same trace; the online controller computes its indicator here in numpy (or takes it per
call, to replay a PyTorch run). Not yet: the automatic block rule (export a plan or `block_reuse` that fixes the reused blocks). CFG branches:
wrap each branch's call in `runner.cache_context(name)`, as diffusers pipelines do.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .bundle.manifest import key_dict, read_manifest
from .errors import BundleError
from .plan import Plan, Variant, parse_variant
from .runtime.controller import StepInfo, controller_for
from .runtime.rules import CacheFacts, VariantKey, fallback, forecast_plan, full_key, roll_caches, token_bucket

BRANCH = "default"


class Runner:
    def __init__(self, path, providers: tuple[str, ...] = ("CPUExecutionProvider",), share_weights: bool = True) -> None:
        import onnxruntime

        self.path = Path(path)
        self.manifest = read_manifest(path)
        if self.manifest.get("format", "onnx") != "onnx":
            raise BundleError(f"{path}: a {self.manifest['format']!r} bundle; the runner runs ONNX bundles "
                              f"(xs.load reads pt2 ones)")
        self._ort, self._providers = onnxruntime, list(providers)
        plan = Plan.from_dict(self.manifest["plan"]) if self.manifest.get("plan") is not None else None
        schedule = self.manifest.get("schedule")
        self.controller = controller_for(plan, None if schedule is None else [parse_variant(v) for v in schedule])
        self.settings = self.manifest["runtime"]
        self._sessions: dict[str, object] = {}
        past = self.manifest["caches"]["input_prefix"]
        # each signature's user inputs, in the forward's order (from its full graph; read once, used per call)
        self._user_inputs = {s["id"]: [spec for spec in next(v for v in s["variants"] if v["key"]["variant"] == "full")
                                       ["inputs"] if not spec["name"].startswith(past)]
                             for s in self.manifest["signatures"]}
        # one read-only map of weights.bin; each initializer becomes one OrtValue that every session
        # uses, so that N variant graphs do not hold N copies of the weights
        self._weights = (np.memmap(self.path / self.manifest["weights"]["file"], dtype=np.uint8, mode="r")
                         if share_weights and self.manifest["weights"]["bytes"] else None)
        self._shared: dict[tuple, object] = {}
        self.trace: list[tuple[int, str, str]] = []   # (step, variant key, reason) per call
        self._num_steps: int | None = None
        self._branch = BRANCH
        self._reset()

    def _reset(self) -> None:
        self._branches: dict[str, _Branch] = {}
        self.controller.reset()

    @contextmanager
    def cache_context(self, name: str):
        """A CFG branch (as diffusers pipelines mark them): each has its own caches and step count."""
        saved, self._branch = self._branch, str(name)
        try:
            yield
        finally:
            self._branch = saved

    @contextmanager
    def generation(self, num_steps: int):
        if not isinstance(num_steps, int) or num_steps < 1:
            raise BundleError(f"generation(num_steps) needs a positive integer, got {num_steps!r}")
        self._reset()
        self._num_steps = num_steps
        try:
            yield self
        finally:
            self._num_steps = None
            self._reset()

    def __call__(self, *, indicator: float | None = None, **inputs) -> list[np.ndarray]:
        """One denoising step. `indicator` overrides the online controller's indicator (e.g. the
        PyTorch module's, from its trace, to replay its decisions); by default it is computed here."""
        if self._num_steps is None:
            raise BundleError("call the runner inside `with runner.generation(num_steps):` (the step index counts "
                              "the calls of a generation)")
        inputs = _flat_inputs(inputs)
        signature = self._signature(inputs)
        state = self._branches.setdefault(self._branch, _Branch())
        if state.signature != signature["id"]:  # per branch, as the runtime: another signature starts over
            state.clear()
            state.signature = signature["id"]
        info = StepInfo(state.calls, self._num_steps, self._branch)
        latent = _latent(inputs, [spec["name"] for spec in self._user_inputs[signature["id"]]])
        online = self.controller.wants_indicator and latent is not None
        if online and state.last_input is not None:
            if indicator is None:
                indicator = _relative_change(latent, state.last_input)
                if self.controller.indicator_kind == "easycache" and state.rate is not None:
                    indicator *= state.rate
            self.controller.observe(info, {"indicator": float(indicator)})
        decision = self.controller.decide(info)
        key, reason, weights = self._choose(decision, info, signature, state)
        entry = self._entry(signature, key)
        self.controller.commit(info, key.variant)
        feed = {spec["name"]: self._value(spec, inputs, weights, state) for spec in entry["inputs"]}
        session = self._session(entry["file"])
        used = {i.name for i in session.get_inputs()}
        outputs = dict(zip(entry["outputs"], session.run(entry["outputs"],
                                                         {k: v for k, v in feed.items() if k in used})))
        prefix = self.manifest["caches"]["output_prefix"]
        produced = {name[len(prefix):]: outputs[name] for name in entry["outputs"] if name.startswith(prefix)}
        state.caches, state.history, rolled = roll_caches(state.caches, produced, key.variant is Variant.FULL,
                                                          self.settings["cache_depth"], state.history, info.step)
        if self.settings.get("check_finite", True):
            state.check_finite(produced, rolled, key.variant is Variant.FULL)
        self.trace.append((info.step, str(key), reason))
        user = [v for name, v in outputs.items() if not name.startswith(prefix)]
        if online:
            state.last_input = np.array(latent, dtype=np.float32)
            if key.variant is not Variant.SKIP and self.controller.indicator_kind == "easycache" and user:
                state.update_rate(state.last_input, np.asarray(user[0], dtype=np.float32))
        state.calls += 1
        if info.step >= self._num_steps - 1:
            state.clear()  # the generation's last step (as the runtime: counters, caches, indicator state)
            state.signature = signature["id"]
        return user

    # --- what runs --------------------------------------------------------------------------------
    def _choose(self, decision, info: StepInfo, signature: dict, state: "_Branch") -> tuple[VariantKey, str, tuple | None]:
        has = lambda prefix: any(name.startswith(prefix) for name in state.caches)  # noqa: E731
        token_failed = signature.get("failed", {}).get("token")  # as the runtime's variants.failed
        full = full_key(self.controller.may_follow(info), token_failed is not None)
        if decision.variant is Variant.FULL:
            return full, decision.reason, None
        facts = CacheFacts(delta=has("delta."), residuals=has("residual."), kv_and_prev=has("kv.") and has("delta_prev."),
                           token_failed=token_failed)
        if (why := fallback(decision.variant, decision.reason, info.branch, facts)) is not None:
            return full, why, None
        if not state.finite:
            return full, f"{decision.reason}: non-finite value (NaN/Inf) in a cached tensor", None
        if decision.variant is Variant.BLOCK:
            reuse = decision.reuse if decision.reuse is not None else self.settings["block_reuse"]
            if reuse is None:
                raise BundleError(f"{self.path}: step {info.step} is a block step with the automatic block rule, "
                                  f"which this runner does not apply; export with XSlimConfig(block_reuse=...) or a "
                                  f"plan whose block entries name the reused blocks")
            return VariantKey(Variant.BLOCK, reuse=tuple(reuse), probe=decision.probe is not None), decision.reason, None
        order, weights, _ = forecast_plan(decision.estimator or self.settings["estimator"], info.step, state.history,
                                          state.history_finite)
        if decision.variant is Variant.SKIP:
            return VariantKey(Variant.SKIP, history=order), decision.reason, weights
        ratio = decision.token_ratio if decision.token_ratio is not None else self.settings["token_ratio"]
        return (VariantKey(Variant.TOKEN, tokens=token_bucket(ratio, signature["image_tokens"]), history=order),
                decision.reason, weights)

    def _entry(self, signature: dict, key: VariantKey) -> dict:
        wanted = key_dict(key)
        for entry in signature["variants"]:
            if entry["key"] == wanted:
                return entry
        raise BundleError(f"{self.path}: variant {key} is not in the bundle (it holds "
                          f"{[e['file'] for e in signature['variants']]}); run a generation with this plan and "
                          f"these inputs before xs.export, so that the variant is built and exported")

    def _signature(self, inputs: dict) -> dict:
        """The bundle signature whose user inputs match these (names, shapes, dtypes)."""
        problems = []
        for signature in self.manifest["signatures"]:
            specs = self._user_inputs[signature["id"]]
            missing = [s["name"] for s in specs if s["name"] not in inputs]
            if missing or set(inputs) - {s["name"] for s in specs}:
                problems.append(f"{signature['id']}: expects inputs {[s['name'] for s in specs]}, got {sorted(inputs)}")
                continue
            for spec in specs:
                value = np.asarray(inputs[spec["name"]])
                if list(value.shape) != spec["shape"] or str(value.dtype) != spec["dtype"]:
                    problems.append(f"{signature['id']}: input {spec['name']!r} expected shape {spec['shape']} "
                                    f"dtype {spec['dtype']}, got shape {list(value.shape)} dtype {value.dtype}")
                    break
            else:
                return signature
        raise BundleError(f"{self.path}: no exported signature takes these inputs: " + "; ".join(problems))

    def _value(self, spec: dict, inputs: dict, weights, state: "_Branch") -> np.ndarray:
        name, caches = spec["name"], self.manifest["caches"]
        if name == caches["forecast_weights"]:
            return np.asarray(weights, dtype=np.float32)
        if name.startswith(caches["input_prefix"]):
            return state.caches[name[len(caches["input_prefix"]):]]
        return np.asarray(inputs[name])

    def _session(self, file: str):
        session = self._sessions.get(file)
        if session is None:
            options = self._ort.SessionOptions()
            entry = next(v for s in self.manifest["signatures"] for v in s["variants"] if v["file"] == file)
            if self._weights is not None:
                # prepacking would give every session its own packed copy of each weight, and each
                # session's arena would keep its own peak of activations: both off when sharing (one
                # DiT-XL/2-width graph set, 2 layers: 1.08 GB -> 0.33 GB resident after a generation)
                options.add_session_config_entry("session.disable_prepacking", "1")
                options.enable_cpu_mem_arena = False
                for init in entry.get("external", []):
                    if init["dtype"] is not None:
                        options.add_initializer(init["name"], self._shared_value(init))
            session = self._sessions[file] = self._ort.InferenceSession(str(self.path / file), options,
                                                                        providers=self._providers)
        return session

    def _shared_value(self, init: dict):
        key = (init["offset"], init["dtype"], tuple(init["shape"]))  # the file dedupes by bytes alone
        value = self._shared.get(key)
        if value is None:
            view = self._weights[init["offset"]:init["offset"] + init["length"]]
            array = np.frombuffer(view, dtype=init["dtype"]).reshape(init["shape"])
            value = self._shared[key] = self._ort.OrtValue.ortvalue_from_numpy(array)
        return value


class _Branch:
    """One CFG branch's state in a generation (as runtime/state.BranchState, in numpy)."""

    def __init__(self) -> None:
        self.signature = None
        self.clear()

    def clear(self) -> None:
        self.calls, self.caches, self.history = 0, {}, []
        self.last_input = self.rate = self.computed = None
        self.finite, self.history_finite = True, True

    def check_finite(self, produced: dict, rolled: list, replace: bool) -> None:
        """As BranchState.store: a NaN/Inf in what a step produced makes approximate steps run full; in
        the history a full step kept, it only turns forecasts into reuse."""
        flags = [bool(np.isfinite(v).all()) for name, v in produced.items()
                 if v.dtype.kind == "f" and not name.startswith(("delta_prev.", "probe."))]
        if replace:
            self.history_finite = all(bool(np.isfinite(v).all()) for v in rolled if v.dtype.kind == "f")
            self.finite = all(flags)
        else:
            self.finite = self.finite and all(flags)

    def update_rate(self, latent: np.ndarray, output: np.ndarray) -> None:
        """EasyCache's k: relative output change / relative latent change between computed steps."""
        if self.computed is not None:
            x, o = self.computed
            self.rate = _relative_change(output, o) / max(_relative_change(latent, x), 1e-12)
        self.computed = (latent, output)


def _flat_inputs(inputs: dict) -> dict:
    """Arrays by graph input name: nested tuples/lists become name_0, name_0_1, ... (as the export
    names the captured leaves); other values (flags, None) were fixed at capture and are dropped."""
    out = {}

    def add(name, value):
        if isinstance(value, (tuple, list)):
            for i, item in enumerate(value):
                add(f"{name}_{i}", item)
        elif isinstance(value, (np.ndarray, np.generic)):
            out[name] = value

    for name, value in inputs.items():
        add(name, value)
    return out


def _latent(inputs: dict, order: list[str]):
    """The latent a call denoises: `hidden_states`, else the first float input in the forward's order
    (runtime/policies.first_float_tensor), not the caller's keyword order."""
    value = inputs.get("hidden_states")
    if value is not None and np.asarray(value).dtype.kind == "f":
        return np.asarray(value)
    return next((np.asarray(inputs[n]) for n in order if n in inputs and np.asarray(inputs[n]).dtype.kind == "f"), None)


def _relative_change(current: np.ndarray, previous: np.ndarray) -> float:
    """‖a − b‖₁ / ‖b‖₁, as runtime/policies.relative_change."""
    current, previous = current.astype(np.float32), previous.astype(np.float32)
    return float(np.abs(current - previous).sum() / max(float(np.abs(previous).sum()), 1e-12))
