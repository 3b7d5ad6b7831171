"""The CLI's live view of a debate: each expert's tokens as they arrive, then a final panel."""

from __future__ import annotations

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from livemind.events import DebateEvent, ExpertDropped, RoundDone, RouteEvent, SynthesisDone, SynthesisToken, TokenEvent
from livemind.types import DebateResult, RouteDecision


def routing_table(decision: RouteDecision) -> Table:
    """Every expert's routing score, selected ones marked."""
    table = Table(title="Routing", show_header=True, header_style="bold",
                  caption=f"routed on the English translation: {escape(decision.routed_on)}" if decision.routed_on else None)
    table.add_column("expert")
    table.add_column("score", justify="right")
    table.add_column("best match")
    for s in decision.scores:
        mark = "★ " if s.expert in decision.selected else "  "
        table.add_row(mark + s.expert, f"{s.score:.3f}", s.best_match)
    return table


class DebateView:
    """Renders debate events with rich: one growing panel per expert per round."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._texts: dict[tuple[str, str], Text] = {}
        self._order: list[tuple[str, str]] = []
        self._live: Live | None = None
        self._round_title = ""

    def _panels(self) -> Group:
        panels = [Panel(self._texts[k], title=f"{k[0]} · {k[1]}", title_align="left", border_style="cyan")
                  for k in self._order]
        return Group(*panels)

    def _start_live(self) -> None:
        if self._live is None:
            self._live = Live(self._panels(), console=self.console, refresh_per_second=12, transient=False)
            self._live.start()

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.update(self._panels())
            self._live.stop()
            self._live = None
            self._texts.clear()
            self._order.clear()

    def __call__(self, event: DebateEvent) -> None:
        """Handle one event."""
        if isinstance(event, RouteEvent):
            self.console.print(f"[bold]route[/] → {', '.join(event.selected)} "
                               f"([italic]{event.mode}[/]): {escape(event.reason)}")  # it may quote the question
        elif isinstance(event, TokenEvent | SynthesisToken):
            key = (event.expert or "?", "synthesis" if isinstance(event, SynthesisToken) else f"round {event.round}")
            if key not in self._texts:
                self._texts[key] = Text()
                self._order.append(key)
            self._texts[key].append(event.text)
            self._start_live()
            assert self._live is not None
            self._live.update(self._panels())
        elif isinstance(event, ExpertDropped):
            self.console.print(f"[red]dropped[/] {event.expert} in round {event.round}: {event.reason}")
        elif isinstance(event, RoundDone):
            self._stop_live()
            self.console.print(f"[bold green]round {event.round} done[/]: agreement {event.agreement:.2f}")
        elif isinstance(event, SynthesisDone):
            self._stop_live()

    def close(self) -> None:
        """Stop any live display."""
        self._stop_live()


def result_panel(result: DebateResult) -> Panel:
    """The final answer with agreement, dissent and where the time went."""
    body = Text()
    body.append(result.answer + "\n\n", style="bold")
    body.append(f"strategy {result.strategy} · agreement {result.agreement:.2f} · rounds {result.rounds} "
                f"({result.stop_reason}) · mode {result.mode} · {result.prompt_tokens} prompt + {result.tokens} "
                f"generated tokens · {result.total_s:.1f} s\n")
    if result.debate_triggered is not None:
        body.append(f"debate {'ran' if result.debate_triggered else 'skipped'}: {result.trigger_reason}\n")
    if result.first_vote is not None:
        same = "same as" if result.first_vote == result.answer_value else "differs from"
        body.append(f"a plain vote of the first answers: {result.first_vote} ({same} this answer)\n")
    if result.vote_weighting:
        body.append(f"votes {result.vote_weighting}\n")
    for c in result.consistency:
        body.append(f"{c.expert}: {c.samples} samples, self-consistency {c.consistency:.2f}"
                    + (f" on {c.value}" if c.value is not None else "") + "\n")
    body.append(f"answered by: {result.synthesizer}\n")
    if result.synthesis_error:
        body.append(f"synthesis error: {result.synthesis_error}\n", style="red")
    for note in result.dissent:
        body.append(f"dissent: {note}\n", style="yellow")
    for d in result.dropped:
        body.append(f"dropped: {d.expert} (round {d.round}): {d.reason}\n", style="red")
    body.append(f"session: {result.session_id}", style="dim")
    return Panel(body, title="LiveMind answer", border_style="green")
