import pytest

import xslim_compile as xs
from xslim_compile.plan import Variant, parse_schedule


def test_schedule_is_parsed_into_the_enum():
    config = xs.XSlimConfig(schedule=["full", "SKIP", Variant.BLOCK, " token "])
    assert config.schedule == (Variant.FULL, Variant.SKIP, Variant.BLOCK, Variant.TOKEN)


def test_unknown_schedule_entry_lists_the_valid_names():
    with pytest.raises(ValueError) as info:
        xs.XSlimConfig(schedule=["full", "skipp"])
    message = str(info.value)
    assert "'skipp'" in message
    for name in ("'full'", "'skip'", "'block'", "'token'"):
        assert name in message


def test_schedule_must_be_a_sequence_not_a_string():
    with pytest.raises(TypeError):
        parse_schedule("full")


@pytest.mark.parametrize("field,value", [
    ("backend", "tvm"), ("block_reuse", [-1]), ("block_threshold", 0.0), ("max_signatures", 0),
    ("trace_limit", 0), ("always_compute_blocks", -2),
])
def test_bad_settings_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"XSlimConfig.{field}="):
        xs.XSlimConfig(**{field: value})


def test_unknown_setting_is_a_type_error():
    with pytest.raises(TypeError):
        xs.XSlimConfig(not_a_setting=1)


def test_block_reuse_is_normalised():
    assert xs.XSlimConfig(block_reuse=[6, 4, 4, 5]).block_reuse == (4, 5, 6)
