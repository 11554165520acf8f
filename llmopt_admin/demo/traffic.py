"""Drive the demo workload through a chat model, the way PipesHub's services call it."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from llmopt_admin.demo.workload import DemoWorkload


@dataclass
class Progress:
    """A one-line progress bar on a terminal, a line per tenth elsewhere."""

    total: int
    out: TextIO = field(default_factory=lambda: sys.stdout)
    done: int = 0
    width: int = 30
    _last_tenth: int = -1

    def advance(self, label: str, step: int = 1) -> None:
        self.done += step
        filled = self.width * self.done // max(self.total, 1)
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} {label}"
        if self.out.isatty():
            self.out.write("\r" + line.ljust(self.width + 40))
            if self.done >= self.total:
                self.out.write("\n")
        else:
            tenth = 10 * self.done // max(self.total, 1)
            if tenth != self._last_tenth:
                self._last_tenth = tenth
                self.out.write(line + "\n")
        self.out.flush()


async def run_rag(
    model: BaseChatModel, questions: list[list[BaseMessage]], advance: Callable[[str], None]
) -> None:
    """Answer RAG questions a few at a time, as concurrent users would ask them."""
    gate = asyncio.Semaphore(4)

    async def ask(messages: list[BaseMessage]) -> None:
        async with gate:
            await model.ainvoke(messages)
        advance("RAG questions")

    # The first question writes the shared prefix; the rest read it.
    if questions:
        await ask(questions[0])
    await asyncio.gather(*(ask(messages) for messages in questions[1:]))


async def run_chats(
    model: BaseChatModel,
    system_prompt: str,
    chats: list[list[str]],
    advance: Callable[[str], None],
) -> None:
    """Hold multi-turn conversations; each turn resends the whole conversation so far."""

    async def converse(turns: list[str]) -> None:
        history: list[BaseMessage] = [SystemMessage(system_prompt)]
        for turn in turns:
            history.append(HumanMessage(turn))
            reply = await model.ainvoke(history)
            history.append(AIMessage(str(reply.content)))
            advance("chat turns")

    await asyncio.gather(*(converse(turns) for turns in chats))


async def run_documents(
    model: BaseChatModel, documents: list[list[BaseMessage]], advance: Callable[..., None]
) -> None:
    """Summarise documents in bulk: one `abatch`, which the wrapper sends as a Message Batch."""
    await model.abatch(documents)  # type: ignore[arg-type]
    advance("document summaries", len(documents))


async def run_workload(model: BaseChatModel, workload: DemoWorkload, progress: Progress) -> None:
    """All three kinds of traffic, one after the other."""

    def advance(label: str, step: int = 1) -> None:
        progress.advance(label, step)

    await run_rag(model, workload.rag, advance)
    await run_chats(model, workload.system_prompt, workload.chats, advance)
    await run_documents(model, workload.documents, advance)
