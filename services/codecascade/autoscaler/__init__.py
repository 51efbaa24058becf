"""The autoscaler: each tier above the first scaled on the escalation traffic into it."""
