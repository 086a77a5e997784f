"""Training: optimizer, sharded train state, the jitted step, checkpoints and the loop."""
