"""Performance analytics: equity curves, baselines and the statistics a leaderboard shows (pure)."""
