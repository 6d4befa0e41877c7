"""A claim's history, read and rewound: one place for the CLI and the reviewer console.

- `runs`: the runs of a claim across continue-as-new, and which run holds a version.
- `versions`: where in a run's history a version was made.
- `timeline`: a history as rows a person can read (pure; rendering is the caller's).
- `replay`: histories replayed against today's code: the replay check, the state at a version.
- `rollback`: reset the run holding a version to it, refused once money has moved.
- `fork`: rerun a claim from a version under other conditions, as a dry run.

Only `replay` and `fork` load the workflow (and with it the agent and its model
libraries); import them where a replay is needed.
"""
