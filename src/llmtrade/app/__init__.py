"""The application: one place that decides the mode and builds what a run needs; the jobs."""
