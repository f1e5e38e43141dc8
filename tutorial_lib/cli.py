"""What every command a user runs shares: an argument parser that ends a bad argument in one line."""
from __future__ import annotations

import argparse


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument ends in one line on stderr, ``error: ...``, not the usage text."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")
