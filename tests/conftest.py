import pytest

import xslim_compile as xs
from tests.zoo import FAMILIES


FAMILY_NAMES = sorted(FAMILIES)
SCHEDULE = ["full", "skip", "block", "full"]


class Built:
    """One tiny model of a family, optimized, called once so that its variants are captured."""

    def __init__(self, family: str) -> None:
        make, inputs = FAMILIES[family]
        self.family, self.model, self.make_inputs = family, make(), inputs
        self.opt = xs.optimize(self.model, xs.XSlimConfig(schedule=SCHEDULE, always_compute_blocks=1))
        self.inputs = inputs()
        self.opt(**self.inputs)
        self.variants = next(iter(self.opt._variant_sets.values()))
        self.builder = self.variants.builder


@pytest.fixture(scope="session")
def built_models():
    cache = {}

    def get(family: str) -> Built:
        if family not in cache:
            cache[family] = Built(family)
        return cache[family]

    return get
