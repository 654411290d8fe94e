"""The operations console at /ops: overview, message search and timelines, dead letters
with audited replay, agreements. Plain HTML, CSS and JavaScript shipped in the package (no
build step, no CDN), served by the same WSGI front as /soap/v1 and /metrics.

accounts.py  users file, roles, password check      sessions.py  sessions, CSRF, login throttle
backend.py   what the pages show and do (JSON)       web.py       the WSGI app: routes and guards
agreements.py  the agreements page                  render.py    documents pretty-printed
static/      the pages, CSS and JavaScript           cli.py       `exchange console hash-password`
"""
