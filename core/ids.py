"""How a new trade id relates to the last one of its sequence: the next one, a gap, a re-sent one, or an id that
cannot belong to the sequence.

Why: one implausible id (a frame with a = 1e15, an uploaded tick from another numbering) must neither make every
later trade look re-sent nor hide every later gap; the feed's de-duplication and the writer's gap detection both
decide with this one rule.
"""
from __future__ import annotations

import enum

# No USD-M symbol trades anywhere near 50 million aggTrades in the 48 h REST window (BTCUSDT: ~3–5 million a day),
# so a jump that large past the last id, or that far below it, is not the same sequence.
ID_JUMP_BOUND = 50_000_000


class IdCheck(enum.StrEnum):
    """The verdict on a new id against the last one of its sequence."""

    NEXT = "next"            # last + 1, or the first id seen
    GAP = "gap"              # ahead by 2..ID_JUMP_BOUND: ids in between are missing
    DUPLICATE = "duplicate"  # at or a little below the last: re-sent
    OUTLIER = "outlier"      # more than ID_JUMP_BOUND ahead: quarantine it, keep the sequence
    RESET = "reset"          # more than ID_JUMP_BOUND below: the last one was implausible, follow this one


def check_id(last: int | None, new: int, bound: int = ID_JUMP_BOUND) -> IdCheck:
    """Classify `new` against `last` (None: nothing seen yet)."""
    if last is None or new == last + 1:
        return IdCheck.NEXT
    if new > last + bound:
        return IdCheck.OUTLIER
    if new > last:
        return IdCheck.GAP
    return IdCheck.RESET if new < last - bound else IdCheck.DUPLICATE
