"""Seed labs: every example of the five source notes as a small, pure-torch function that
trains in seconds on a CPU. No streamlit here; `playground.ui.labs` draws them and
`playground.labs.registry.LABS` lists them for the Labs page."""
