"""The grader's command line: python lambda/evaluate.py baseline|score|report|remediate ...

A launcher only; the grader is the package grader/ (not shipped in the Lambda zip).
"""

import data_generator
from grader.cli import main

if __name__ == "__main__":
    data_generator.exit_with(main)
