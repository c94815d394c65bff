"""Ways to run a scheduled session other than in the scheduler's own process."""
