"""The `rag` command, composed above the packages it joins (rag, ui, evals)."""
