"""Dataset formats: reading import files (parsers), the conversation shapes shared with the
exporters (transcripts), and what an export is (exports). Plain Python, no Django."""
