from typing import Any

def compile_service(spec: Any, numgen: str) -> tuple[tuple[tuple[str, str, str], ...],
                                                     tuple[tuple[str, tuple[str, ...]], ...],
                                                     tuple[tuple[str, str], ...],
                                                     tuple[tuple[str, str], ...]]: ...
def render_elements(family_table: str, name: str, items: list[tuple[str, str]]) -> str: ...
