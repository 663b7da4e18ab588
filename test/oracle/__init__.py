"""An independent reference evaluation of the trending scores of docs/reference.md (plain Python)."""

from .calendar import (add_months, minus_interval, subtract, whole_days, to_utc_naive,
                       days_in_month, is_leap)
from .scores import (ALL_STRATEGIES, PLAYLIST_STRATEGIES, TRACK_STRATEGIES, Source, TrackRow,
                     PlayRow, ActionRow, UserRow, PlaylistRow, fetch_source, expected_scores,
                     expected_bad_rows, expected_track_scores, expected_playlist_scores,
                     score_mismatches)

__all__ = [
    "add_months", "minus_interval", "subtract", "whole_days", "to_utc_naive", "days_in_month", "is_leap",
    "ALL_STRATEGIES", "PLAYLIST_STRATEGIES", "TRACK_STRATEGIES", "Source", "TrackRow", "PlayRow",
    "ActionRow", "UserRow", "PlaylistRow", "fetch_source", "expected_scores", "expected_bad_rows",
    "expected_track_scores", "expected_playlist_scores", "score_mismatches",
]
