"""Health: /healthz (the process answers), /readyz (what it needs answers), cluster beats."""
