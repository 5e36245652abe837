"""The week's workflows built from pipeline stages: research, committee, trading, checkpoint, postmortem."""
