"""The project's own tooling: conf/ and params.yaml in sync, CI, the PR report, the registry."""
