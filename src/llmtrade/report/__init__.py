"""The HTML report: one self-contained file (inline SVG charts, no external reference) from a Report and a
Leaderboard. Imports jinja2 and matplotlib, so only `llmtrade report` loads it, lazily."""
