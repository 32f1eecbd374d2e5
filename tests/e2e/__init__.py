"""End-to-end tests: the portal served on localhost, driven by real Chromium at phone size."""
