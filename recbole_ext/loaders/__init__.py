"""RecBole training loaders of our models: the rows each model trains on, built from RecBole's split datasets.

``user_sequences.py`` holds every user's exact item sequence and the one-row-per-user loader
(SASRecPaper); ``windows.py`` the sliding windows of CaserPaper; ``sessions.py`` the session
chunks of GRU4RecPaper.
"""
