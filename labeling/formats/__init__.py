"""Dataset formats: reading import files (parsers) and the conversation shapes shared with
the exporters (transcripts)."""
