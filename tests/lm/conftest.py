"""The KenLM tools for the LM tests: `make test` builds them first (`make kenlm`)."""

import pytest

from src.lm.tools import TOOLS, find_tool


@pytest.fixture(scope="session")
def kenlm_tools() -> dict:
    """{name: path} of lmplz and build_binary; tests using them skip where they are missing."""
    tools = {name: find_tool(name) for name in TOOLS}
    missing = [name for name, path in tools.items() if path is None]
    if missing:
        pytest.skip(f"KenLM's {', '.join(missing)} not built: run `make kenlm`")
    return tools
