"""Budget pacing: stopping signals and the pacer that sets the spending rate from them."""
