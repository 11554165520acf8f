"""Checks a `generateContent` request body the way the Gemini API does and parses it.

The prompt, as implicit caching sees it, is the ordered blocks: tools → systemInstruction parts →
each part of each content turn. Token counts are the shared estimates
(`optimization.simulator.prompt`): text parts count their text, function calls and responses
their JSON plus `BLOCK_OVERHEAD_TOKENS`, inline or file media `MEDIA_PART_TOKENS` (Gemini's
documented flat 258 tokens for an image up to 384 px).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from optimization._tokens import estimate_tokens
from optimization.simulator.gemini_api.errors import invalid_argument
from optimization.simulator.prompt import BLOCK_OVERHEAD_TOKENS, PromptBlock, canonical

MEDIA_PART_TOKENS = 258
REQUEST_FIELDS = frozenset(
    {
        "model",
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "generationConfig",
        "safetySettings",
        "cachedContent",
        "labels",
        "serviceTier",
        "store",
    }
)
PART_KINDS = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
)
ROLES = ("user", "model", "function", "tool")
CALLING_MODES = ("MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED")


@dataclass(frozen=True)
class GeminiRequest:
    """A validated generateContent request (or a cachedContents body: no generation)."""

    model: str
    contents: list[dict[str, Any]]
    system_parts: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    tool_config: dict[str, Any]
    generation: dict[str, Any]
    cached_content: str | None
    blocks: list[PromptBlock] = field(default_factory=list)

    @property
    def functions(self) -> list[dict[str, Any]]:
        """Every function declaration of every tool, in order."""
        return [
            declaration
            for tool in self.tools
            for declaration in tool.get("functionDeclarations") or []
        ]

    @property
    def input_tokens(self) -> int:
        """The prompt's estimated tokens (cached content not included)."""
        return sum(block.tokens for block in self.blocks)


def model_name(raw: str) -> str:
    """`models/gemini-2.5-flash` or `gemini-2.5-flash` → `gemini-2.5-flash`."""
    return raw.removeprefix("models/")


def part_tokens(part: Mapping[str, Any]) -> int:
    """Estimated tokens of one part (see the module docstring for the rule)."""
    if isinstance(part.get("text"), str):
        return estimate_tokens(part["text"])
    if "inlineData" in part or "fileData" in part:
        return MEDIA_PART_TOKENS
    return estimate_tokens(canonical(dict(part))) + BLOCK_OVERHEAD_TOKENS


def _check_part(part: Any, path: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise invalid_argument(f"Invalid value at '{path}': expected an object")
    if not any(kind in part for kind in PART_KINDS):
        raise invalid_argument(
            f"* {path}.data: required oneof field 'data' must have one initialized field"
        )
    return part


def _parts(value: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(value, dict) or not isinstance(value.get("parts"), list):
        raise invalid_argument(f"* {path}.parts: contents.parts must not be empty.")
    parts = value["parts"]
    if not parts:
        raise invalid_argument(f"* {path}.parts: contents.parts must not be empty.")
    return [_check_part(part, f"{path}.parts[{i}]") for i, part in enumerate(parts)]


def _contents(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_argument("Invalid value at 'contents': expected a list of Content")
    contents = []
    for i, turn in enumerate(value):
        parts = _parts(turn, f"contents[{i}]")
        role = turn.get("role") or "user"
        if role not in ROLES:
            raise invalid_argument(
                f"Please use a valid role: {', '.join(ROLES[:2])}. (got {role!r})"
            )
        contents.append({"role": role, "parts": parts})
    return contents


def _tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(tool, dict) for tool in value):
        raise invalid_argument("Invalid value at 'tools': expected a list of Tool")
    for i, tool in enumerate(value):
        for j, declaration in enumerate(tool.get("functionDeclarations") or []):
            if not isinstance(declaration, dict) or not declaration.get("name"):
                raise invalid_argument(
                    f"* GenerateContentRequest.tools[{i}].function_declarations[{j}].name: "
                    "Name cannot be empty."
                )
    return list(value)


def _tool_config(value: Any, tools: list[dict[str, Any]]) -> dict[str, Any]:
    if value is None:
        return {}
    calling = value.get("functionCallingConfig") if isinstance(value, dict) else None
    if calling is not None:
        mode = calling.get("mode", "AUTO")
        if mode not in CALLING_MODES:
            raise invalid_argument(
                "Invalid value at 'tool_config.function_calling_config.mode' "
                "(type.googleapis.com/google.ai.generativelanguage.v1beta."
                f'FunctionCallingConfig.Mode), "{mode}"'
            )
        names = {d.get("name") for t in tools for d in t.get("functionDeclarations") or []}
        for name in calling.get("allowedFunctionNames") or []:
            if name not in names:
                raise invalid_argument(
                    f"* GenerateContentRequest.tool_config.function_calling_config."
                    f"allowed_function_names: {name} is not a declared function"
                )
    return dict(value)


def _blocks(
    tools: list[dict[str, Any]],
    system_parts: list[dict[str, Any]],
    contents: list[dict[str, Any]],
) -> list[PromptBlock]:
    blocks = [
        PromptBlock(f"tools[{i}]", canonical(tool), estimate_tokens(canonical(tool)), "5m")
        for i, tool in enumerate(tools)
    ]
    blocks += [
        PromptBlock(
            f"systemInstruction.parts[{i}]", "system:" + canonical(part), part_tokens(part), "5m"
        )
        for i, part in enumerate(system_parts)
    ]
    for i, turn in enumerate(contents):
        for j, part in enumerate(turn["parts"]):
            blocks.append(
                PromptBlock(
                    f"contents[{i}].parts[{j}]",
                    turn["role"] + ":" + canonical(part),
                    part_tokens(part),
                    "5m",  # every position may be a cached prefix: caching is implicit
                )
            )
    return blocks


def parse_request(body: Any, model: str, *, needs_contents: bool = True) -> GeminiRequest:
    """Validate a generateContent body for `model` (400 INVALID_ARGUMENT naming the field)."""
    if not isinstance(body, dict):
        raise invalid_argument("Invalid JSON payload received. Expected an object.")
    for name in body:
        if name not in REQUEST_FIELDS:
            raise invalid_argument(
                f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
            )
    contents = _contents(body.get("contents"))
    if needs_contents and not contents:
        raise invalid_argument("* GenerateContentRequest.contents: contents is not specified")
    system = body.get("systemInstruction")
    system_parts = _parts(system, "systemInstruction") if system is not None else []
    tools = _tools(body.get("tools"))
    generation = body.get("generationConfig") or {}
    if not isinstance(generation, dict):
        raise invalid_argument("Invalid value at 'generation_config': expected an object")
    limit = generation.get("maxOutputTokens")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise invalid_argument(
            "* GenerateContentRequest.generation_config.max_output_tokens: "
            "max_output_tokens must be positive."
        )
    cached = body.get("cachedContent")
    if cached is not None and (system_parts or tools or body.get("toolConfig")):
        raise invalid_argument(
            "CachedContent can not be used with GenerateContent request setting "
            "system_instruction, tools or tool_config.\n\nProposed fix: move those values to "
            "CachedContent from GenerateContent request."
        )
    return GeminiRequest(
        model=model_name(model),
        contents=contents,
        system_parts=system_parts,
        tools=tools,
        tool_config=_tool_config(body.get("toolConfig"), tools),
        generation=generation,
        cached_content=cached,
        blocks=_blocks(tools, system_parts, contents),
    )
