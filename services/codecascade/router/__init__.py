"""The router: the cascade policy over tiers, test synthesis and the sandbox."""
