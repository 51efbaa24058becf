"""Offline cost/accuracy evaluation of cascades and the budget calibrator (DESIGN §1)."""
