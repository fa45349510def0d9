"""Storyboards: shots in order, their takes, and the cut assembled from the picked ones."""
