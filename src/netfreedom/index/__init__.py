"""The index (level 1, pure): methodology, expert scores, and the engine that turns them into scores,
status, rank, change, uncertainty and review flags."""
