"""One module per question-set format; each registers the named sets it serves with
`evals.sets.registry.register`. A new set is one module here (found automatically)."""
