"""Local imitation of the WinningHunter Pinterest ads API; see server.py for the routes."""
