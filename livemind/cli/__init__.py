"""The command line: `livemind ask | debate | consensus | serve | mcp | bench | eval | doctor | models ...`."""
