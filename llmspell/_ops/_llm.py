"""An LLM call: ``llm.before_generate`` → provider → ``llm.after_generate``.

Publishes ``llm.request`` when the call goes ahead, then ``llm.response`` (``model``, ``usage``,
``cost``, ``duration``, ``finishReason``) or ``llm.error``; tokens and cost are added to the run's
usage.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from .._exceptions import ParameterError, ProviderError
from ..engines import ScriptFunction
from ._catalogue import LLM, LlmError, LlmRequest, LlmResponse, OpKind, Payload
from ._instrument import Call, Operation
from ._tools import tool_specs

if TYPE_CHECKING:
    from ..providers import ChunkCallback, LLMResponse
    from ._operations import Operations

Request = dict[str, Any]
Response = dict[str, Any]


class LlmCall(Operation[Request, Response]):
    """One call of the provider; the input is the normalised request (``messages`` + options)."""

    kind: ClassVar[OpKind] = LLM

    def __init__(
        self,
        ops: Operations,
        model: str,
        on_chunk: ScriptFunction | None,
        specs: list[dict[str, Any]] | None,
        agent: str | None,
    ) -> None:
        self.ops = ops
        self.model = model
        self.on_chunk = on_chunk
        self.specs = specs
        self.agent = agent

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"model": self.model}
        if self.agent is not None:
            data["agent"] = self.agent
        return data

    def accept(self, value: Any, call: Call) -> Request:
        if not isinstance(value, dict) or not isinstance(value.get("messages"), list):
            raise ParameterError("llm", "request", "a beforeGenerate hook returned a bad request")
        model = value.get("model") or self.model
        if not isinstance(model, str):
            raise ParameterError("llm", "model", "a beforeGenerate hook set a non-string model")
        self.model = model
        return value

    def started(self, call: Call) -> Payload:
        return LlmRequest(*call.ids(), self.model, self.agent, len(call.input["messages"]))

    async def run(self, value: Request, call: Call) -> Response:
        from ..providers import LLMRequest  # the provider's types: loaded by the first call

        specs = self.specs
        if specs is None:
            specs = tool_specs(call.ctx.tools, value.get("tools") or [])
        request = LLMRequest(
            model=self.model,
            messages=value["messages"],
            temperature=value.get("temperature"),
            max_tokens=value.get("max_tokens"),
            tools=specs or None,
            schema=value.get("schema"),
            api_base=value.get("api_base"),
            timeout=value.get("timeout"),
        )
        provider = self.ops.provider
        if self.on_chunk is None:
            response = await provider.complete(request)
        else:
            response = await provider.stream(request, _chunk_callback(self.on_chunk))
        usage = response.usage
        call.ctx.usage.add(
            usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, response.cost
        )
        call.facts["response"] = response
        self.ops.answered(response.model)
        return _script_response(response, bool(request.schema))

    def replaced(self, result: Any, call: Call) -> Response:
        return dict(result) if isinstance(result, dict) else {"content": result}

    def modified(self, value: Any, result: Response, call: Call) -> Response:
        return value if isinstance(value, dict) else result

    def finished(
        self, call: Call, result: Response | None, error: Exception | None
    ) -> Payload | None:
        if error is not None:
            if not isinstance(error, ProviderError) and call.input is None:
                return None  # refused before it was made: no llm.request, so no llm.error
            return LlmError(*call.ids(), self.model, self.agent, str(error), call.duration)
        response: LLMResponse | None = call.facts.get("response")
        if response is None:  # a hook answered: nothing was spent
            return LlmResponse(
                *call.ids(), self.model, self.agent, dict(_NO_USAGE), 0.0, call.duration, None
            )
        return LlmResponse(
            *call.ids(),
            response.model,
            self.agent,
            response.usage.as_dict(),
            response.cost,
            response.duration,
            response.finish_reason,
        )


def _chunk_callback(on_chunk: ScriptFunction) -> ChunkCallback:
    """The provider's chunk callback for the script's ``on_chunk`` (a function of its own: a
    closure in ``run`` would make every call, streamed or not, keep a cell while it waits)."""

    async def chunk(text: str) -> None:
        await on_chunk(text)

    return chunk


_NO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def _script_response(response: LLMResponse, schema: bool) -> Response:
    result = response.to_script()
    result["tool_calls"] = [
        {
            "id": call.id,
            "name": call.name,
            "arguments": call.arguments,
            "raw_arguments": call.raw_arguments,
            **({"error": call.error} if call.error else {}),
        }
        for call in response.tool_calls
    ]
    if schema and response.content:
        try:
            result["object"] = json.loads(response.content)
        except ValueError:
            result["object"] = None
    return result
