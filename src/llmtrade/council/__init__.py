"""The committee: anonymous peer review, aggregation, the chairman; the general-purpose council."""
