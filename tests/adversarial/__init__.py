"""Attacks by a malicious channel party against an honest one, on the dev chain."""
