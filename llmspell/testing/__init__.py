"""Test helpers for spells and for code built on llmspell.

* :class:`OfflineScript` queues the offline model's next replies (text, tool calls, errors) and
  records the requests it received.
* :class:`OpenAIServer` is a local OpenAI-compatible endpoint (streaming, tool calls, errors,
  slow replies), so litellm's real HTTP client runs in tests and benchmarks.
* :func:`deny_network` fails any connect or DNS lookup beyond the loopback interface.
"""

from __future__ import annotations

from ._netguard import NetworkAccessDenied as NetworkAccessDenied
from ._netguard import deny_network as deny_network
from ._offline_script import ERROR_KINDS as ERROR_KINDS
from ._offline_script import RECORD_ENV as RECORD_ENV
from ._offline_script import SCRIPT_ENV as SCRIPT_ENV
from ._offline_script import OfflineScript as OfflineScript
from ._openai_server import OpenAIServer as OpenAIServer
from ._openai_server import ServerReply as ServerReply

__all__ = [
    "ERROR_KINDS",
    "RECORD_ENV",
    "SCRIPT_ENV",
    "NetworkAccessDenied",
    "OfflineScript",
    "OpenAIServer",
    "ServerReply",
    "deny_network",
]
