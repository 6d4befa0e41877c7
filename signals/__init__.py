"""Human-in-the-loop messages and the typed client helpers that send them."""
