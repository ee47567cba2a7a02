"""The leaderboard: entries at identity paths and the rendered LEADERBOARD.md (see issue #5)."""
