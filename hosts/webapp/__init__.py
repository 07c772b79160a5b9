"""The web application every server runs under gunicorn (app.py) and its idle-capacity agent
(capacity.py). Imports nothing from the rest of the testbed: workers stay small."""
