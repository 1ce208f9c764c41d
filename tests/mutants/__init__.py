"""Deliberately broken implementations (and correct ones with other legal conventions).

Each module holds one family's catalogue; `catalogue.py` collects them.
"""
