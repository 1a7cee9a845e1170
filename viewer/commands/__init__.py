"""The sealview commands, one module per group; viewer/cli.py builds the parser from their add_parsers."""
