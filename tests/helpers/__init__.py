"""Helpers shared by the test packages (``from helpers.torch_ref import assert_close``):
tests/ is on the path (pyproject's ``[tool.pytest.ini_options] pythonpath``)."""
