"""The one error PT scoring raises: a round that cannot be scored, said in words."""

from __future__ import annotations

from exchange.errors import RecordError


class PtError(RecordError):
    """A PT round cannot be scored (or its reported scores are wrong).

    A wrong number would judge a laboratory wrongly, so every failure mode is
    an error naming the round, the field and, where there is one, the lab.
    """
