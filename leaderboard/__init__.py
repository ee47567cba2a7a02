"""The leaderboard: entries at identity paths and the rendered LEADERBOARD.md (CONTRIBUTING.md)."""
