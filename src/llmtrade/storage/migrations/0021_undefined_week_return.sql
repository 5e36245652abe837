-- A week that began at no equity (an Alpaca account not funded yet, or emptied) has no return: the postmortem
-- records its week_return as null (domain/checkpoints.py Postmortem), as does the outcome the memory keeps of it.
ALTER TABLE week_summaries ALTER COLUMN week_return DROP NOT NULL;
ALTER TABLE memory_outcomes ALTER COLUMN week_return DROP NOT NULL;
