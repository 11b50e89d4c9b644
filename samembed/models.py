"""SQL models (accounts side). Content lives in MongoDB, never here.

The app has no models of its own any more: Django auth's are the accounts, and
the sign-in throttle's counters live in MongoDB (`repositories.signins`), where
one atomic update counts an attempt.
"""
