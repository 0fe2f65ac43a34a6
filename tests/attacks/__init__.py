"""An attacker's notebook: each module is one class of trick, tried in several variants."""
