"""Real Debian kernel packages for tests: fetched by fetch.sh, located by paths.py."""
