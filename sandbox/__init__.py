"""Local simulators of every provider's API over one synthetic business (see README, "The sandbox")."""
