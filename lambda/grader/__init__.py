"""The grader: baseline, score, report and the reference solver (docs/grading.md).

A product of its own beside the Lambda function: it imports the function's public
modules (config, generator, incidents, es), and nothing of it ships in the zip.
"""
