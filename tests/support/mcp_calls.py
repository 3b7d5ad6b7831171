"""What the MCP tests share: the tools the server lists, and a log of one call's progress notifications."""

from __future__ import annotations

TOOLS = {"ask", "consensus", "debate", "code", "route", "list_experts", "status", "get_session"}


class ProgressLog:
    """Collects progress notifications of one call."""

    def __init__(self) -> None:
        self.events: list[tuple[float, float | None, str]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.events.append((progress, total, message or ""))

    @property
    def messages(self) -> list[str]:
        return [m for _, _, m in self.events]

    def assert_increasing(self) -> None:
        values = [p for p, _, _ in self.events]
        assert values == sorted(values) and len(set(values)) == len(values), values
