"""The HTTP service (FastAPI) around the solver; see issue 3. Never imported by solver/."""
