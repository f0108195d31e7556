"""Scheduler unit tests: this folder (and so ``scheduler_builders``) is on sys.path for plugins/ too."""
