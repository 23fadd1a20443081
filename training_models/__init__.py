"""Model training: scripts that read ../shared/data and write the artefacts zuoxi ships (not installed)."""
