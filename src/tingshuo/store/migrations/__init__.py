"""Alembic's migrations of the store's schema, shipped in the package and run from code
(store/schema.py): `env.py` and one file per schema change in `versions/`."""
