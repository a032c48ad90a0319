"""`fleetdeck setup`: from a few answers to a registered, serving fleet.

answers.py (the questions, as a file `--answers` reads), writer.py (the answers as a
commented profile, the same bytes for the same answers), stages.py (each stage the same
`fleetdeck` command an operator runs, resumable because each is planned first), and
rehearsal.py (the whole setup on a fresh simulated fleet).
"""
