"""Every public function through every front door: SQL, Python, CLI and Ray (see doors.py)."""
