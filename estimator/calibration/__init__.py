"""Calibration services: runs (jobs), fits, imports of measured runs, workers, the accuracy ledger."""
