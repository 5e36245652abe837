"""Stage, Pipeline and the immutable PipelineContext that flows between stages."""
