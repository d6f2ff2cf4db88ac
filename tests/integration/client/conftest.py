"""The API server and client fixtures come from tests/integration/conftest.py."""
