from typing import Any

def compile_service(spec: Any, numgen: str) -> tuple[Any, ...]:
    """(elements, chains, sets) or, without session affinity, (elements, chains, sets, picks)."""
def render_elements(family_table: str, name: str, items: list[tuple[str, str]]) -> str: ...
