"""`imgfleet geo`: a local multi-region cluster on one machine, for people and for tests."""
