"""Printing typed results for a person: tables on a terminal, plain text when piped.

Renderers only read the result they are given; they build nothing and ask nothing."""
