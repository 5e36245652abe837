"""One role per module: render the role's prompt, ask the model, validate the answer.

Each role also carries its offline rules: a deterministic answer computed from the same
structured inputs, used when there is no provider key (or with --offline).
"""
