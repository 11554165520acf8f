"""The demo workload: a RAG-like mix of the traffic PipesHub sends, made from a seed.

Three kinds, chosen because each pays off differently: RAG questions behind one long shared
system prompt (caching pays from the second question), multi-turn chats (each turn reads the
conversation so far from the cache), and bulk document summaries (the Batch API halves them).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

TOPICS = (
    "expense reports",
    "travel bookings",
    "security reviews",
    "onboarding",
    "vendor contracts",
    "incident response",
    "data retention",
    "remote work",
    "performance reviews",
    "procurement",
)
POLICY_SENTENCES = (
    "Every {topic} request is filed in the workspace it concerns and linked to its owner.",
    "Approvals for {topic} follow the two-person rule above the team's spending limit.",
    "Answers about {topic} cite the handbook section and the date it was last reviewed.",
    "Where a {topic} rule conflicts with local law, local law wins and legal is told.",
    "Records of {topic} are kept for seven years, then deleted unless on legal hold.",
    "Questions on {topic} that the handbook does not settle go to the policy desk.",
)


def handbook() -> str:
    """A long, stable system prompt (about 3,000 tokens): the part worth caching."""
    sections = []
    for number, topic in enumerate(TOPICS, start=1):
        turn = number % len(POLICY_SENTENCES)
        sentences = [
            s.format(topic=topic) for s in POLICY_SENTENCES[turn:] + POLICY_SENTENCES[:turn]
        ]
        sections.append(f"Section {number}: {topic.title()}.\n" + " ".join(sentences * 2))
    return (
        "You are the company's policy assistant. Answer from the handbook below, briefly, and "
        "name the section you used.\n\n" + "\n\n".join(sections)
    )


@dataclass(frozen=True)
class DemoWorkload:
    """Message lists for each kind of traffic."""

    rag: list[list[BaseMessage]]
    chats: list[list[str]]  # the user turns of each conversation
    documents: list[list[BaseMessage]]
    system_prompt: str

    @property
    def calls(self) -> int:
        """How many model calls the workload makes."""
        return len(self.rag) + sum(len(turns) for turns in self.chats) + len(self.documents)


def build_workload(
    *, questions: int = 40, chats: int = 4, turns: int = 5, documents: int = 30, seed: int = 7
) -> DemoWorkload:
    """A workload of the given size; the same arguments always give the same messages."""
    rng = random.Random(seed)  # noqa: S311  # nosec B311 - demo text, not security
    system = handbook()
    rag = []
    for number in range(questions):
        topic = rng.choice(TOPICS)
        context = f"Retrieved passage {number}: the {topic} guide, revision {rng.randint(1, 99)}."
        question = (
            f"Question {number}: who approves {topic} above the limit, "
            "and how long are records kept?"
        )
        rag.append([SystemMessage(system), HumanMessage(f"{context}\n\n{question}")])
    conversations = [
        [
            f"Chat {number}, turn {turn}: tell me more about {rng.choice(TOPICS)}."
            for turn in range(turns)
        ]
        for number in range(chats)
    ]
    summarise = SystemMessage("Summarise the document in three sentences for the search index.")
    docs = [[summarise, HumanMessage(_document(rng, number))] for number in range(documents)]
    return DemoWorkload(rag=rag, chats=conversations, documents=docs, system_prompt=system)


def _document(rng: random.Random, number: int) -> str:
    topic = rng.choice(TOPICS)
    lines = [
        f"Document {number}: minutes of the {topic} working group.",
        *(f"Item {i}: {rng.choice(POLICY_SENTENCES).format(topic=topic)}" for i in range(12)),
    ]
    return "\n".join(lines)
