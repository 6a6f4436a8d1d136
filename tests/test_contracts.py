"""core/contracts.py: orders in whole steps, rules that cannot be traded on refused when built."""

import pytest

from core.contracts import ContractRules


def test_whole_steps_round_toward_zero_on_the_step_grid() -> None:
    rules = ContractRules("BTCUSDT", tick_size=0.1, step_size=0.001, min_notional=100.0)
    assert rules.whole_steps(1.23456) == 1.234
    assert rules.whole_steps(-2.0009) == -2.0
    assert rules.whole_steps(0.3) == 0.3  # 0.3 / 0.001 is 299.99999999999994 in floating point
    assert rules.whole_steps(0.0009) == 0.0


@pytest.mark.parametrize("field", ["tick_size", "step_size"])
def test_non_positive_sizes_are_refused_with_the_symbol_and_field(field: str) -> None:
    values = {"tick_size": 0.1, "step_size": 0.001, field: 0.0}
    with pytest.raises(ValueError, match=f"ETHUSDT: {field}"):
        ContractRules("ETHUSDT", min_notional=5.0, **values)
