"""The pipeline's scheduler as the clock of the optimized module (the pipeline form of optimize).

diffusers' `scheduler.set_timesteps` makes a new `timesteps` tensor at the start of every generation,
so its identity marks generation boundaries (also of an image-to-image run that starts part-way, and
of an aborted run followed by another). `len(timesteps)` is the step count. Schedulers that keep a
step index (Euler, flow matching, DPM-Solver, UniPC, Heun, ...) give the position directly:
`step_index`, or before their first `step()` of a generation `begin_index` (set by image-to-image
pipelines to T − ⌈strength·T⌉) or 0. None of this reads a device value. Schedulers without a step
index (DDIM, DDPM, PNDM) are located by the call's timestep in the schedule instead (the runtime reads
both at the first call of a generation, then counts calls).

The scheduler is read from the pipeline at every call, so a scheduler replaced on the pipeline is
picked up at its first call; pipelines made with `from_pipe` share the scheduler object and so the
clock. A second call at the same step in the same branch (true CFG without cache_context, e.g.
FluxImg2ImgPipeline) goes to its own branch ("cond#1"), with its own caches.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass


@dataclass(frozen=True)
class Reading:
    branch: str             # the branch this call belongs to (a repeat at one step gets its own)
    step: int | None        # None: the scheduler keeps no step index (locate by timestep)
    num_steps: int
    generation: int         # increases with every new schedule
    timesteps: object       # the schedule tensor (for locating a timestep without a step index)


class SchedulerClock:
    def __init__(self, pipe) -> None:
        self._pipe = weakref.ref(pipe)
        self._timesteps = None
        self._scheduler = None
        self.generation = 0
        self._calls: dict[tuple[str, int], int] = {}

    def alive(self) -> bool:
        return self._pipe() is not None

    def read(self, branch: str) -> Reading | None:
        """Where this call is, from the scheduler alone; None when the pipeline or its schedule is gone."""
        pipe = self._pipe()
        scheduler = getattr(pipe, "scheduler", None) if pipe is not None else None
        timesteps = getattr(scheduler, "timesteps", None)
        if timesteps is None or not len(timesteps):
            return None
        if timesteps is not self._timesteps or scheduler is not self._scheduler:
            self._timesteps, self._scheduler = timesteps, scheduler
            self.generation += 1
            self._calls.clear()
        if not hasattr(scheduler, "step_index"):
            return Reading(branch, None, len(timesteps), self.generation, timesteps)
        step = scheduler.step_index
        if step is None:
            step = getattr(scheduler, "begin_index", None) or 0
        repeat = self._calls.get((branch, step), 0)
        self._calls[(branch, step)] = repeat + 1
        return Reading(branch if repeat == 0 else f"{branch}#{repeat}", int(step), len(timesteps), self.generation,
                       timesteps)
