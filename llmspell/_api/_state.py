"""``state``: values that survive the run, in the runtime's state store.

``state.get/set/delete/keys/update`` act on the spell's own scope, ``spell:<name>`` (the file
stem, or the daemon's spell name), so a value set by one run is there for the next.
``state.global`` is the scope ``global``; ``state.scope(name)`` any other; both are objects
with the same five calls. ``state.create{persistence="memory"|"sqlite"|"file", path?}``
returns a separate store (its values in its scope ``global``) with the same calls plus
``transform{type="filter"|"flatten"|"sanitize", keys?}`` and ``merge(other, {strategy,
conflictResolution})``, which return new memory stores. A store with a ``path`` is a file in
the spell's workspace and needs the ``fs.write`` permission; it is closed when the run ends.

``update(path, fn)`` is atomic: ``fn(current)`` returns the new value; if another run or
process changed the value meanwhile, ``fn`` is called again with the newer value, so keep it
free of side effects. Setting nil (or ``fn`` returning nil) deletes.

In JS every call returns a Promise except ``state.scope`` and ``state.create``, which build.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, TypeVar

from .._exceptions import ParameterError, ToolError
from ..engines import HostObject, Namespace, ScriptFunction, ScriptValue, sync_api, with_context
from ..state import (
    CONFLICTS,
    PERSISTENCE,
    STRATEGIES,
    TRANSFORMS,
    StateError,
    StateStore,
    create_state_store,
    merge,
    transform,
)
from ..state._paths import check_scope
from ._session import Session
from ._values import to_script

GLOBAL_SCOPE = "global"
"""The scope of ``state.global``, and of every store made by ``state.create``."""

_T = TypeVar("_T")


def store_for(session: Session) -> StateStore:
    """The runtime's state store, as the run ``session`` sees it."""
    if session.state is None:
        raise StateError("this runtime has no state store (open_runtime(state=...))")
    return session.state


def spell_scope(session: Session) -> str:
    """The scope of the bare ``state.*`` calls: ``spell:<name>``."""
    return f"spell:{session.spell}"


class _Target(NamedTuple):
    """Where a script call acts: a store and a scope in it."""

    store: StateStore
    scope: str


async def _write(
    session: Session, target: _Target, op: str, path: Any, apply: Callable[[], Awaitable[_T]]
) -> _T:
    """Every change a spell makes to state passes here, and only here.

    This is the one call site where the ``state.before_write`` / ``state.after_write`` hooks
    and the ``state.changed`` event (``scope``, ``path``) attach once the runtime's
    instrumented operation path (before-hook → operation → after-hook → event) lands.
    """
    return await apply()


# -- the five calls, for any target ------------------------------------------------------------


async def _get(target: _Target, path: Any = None) -> ScriptValue:
    return to_script(await target.store.get(target.scope, path))


async def _set(session: Session, target: _Target, path: Any = None, value: Any = None) -> None:
    await _write(session, target, "set", path, lambda: target.store.set(target.scope, path, value))


async def _delete(session: Session, target: _Target, path: Any = None) -> bool:
    return await _write(
        session, target, "delete", path, lambda: target.store.delete(target.scope, path)
    )


async def _keys(target: _Target, prefix: Any = None) -> list[str]:
    return await target.store.keys(target.scope, prefix)


async def _update(session: Session, target: _Target, path: Any = None, fn: Any = None) -> Any:
    if not isinstance(fn, ScriptFunction):
        raise ParameterError(
            "state.update", "fn", "must be a function(current) returning the new value"
        )

    async def apply(current: Any) -> Any:
        return await fn(to_script(current))

    result = await _write(
        session, target, "update", path, lambda: target.store.update(target.scope, path, apply)
    )
    return to_script(result)


# -- objects ------------------------------------------------------------------------------------

_targets: weakref.WeakKeyDictionary[HostObject, Callable[[Session], _Target]] = (
    weakref.WeakKeyDictionary()
)
"""The target behind each state object a script holds (``merge`` takes any of them)."""


def _scope_object(session: Session, target: _Target, type_name: str = "state") -> HostObject:
    """A script object acting on ``target``: get/set/delete/keys/update."""

    async def get(path: Any = None) -> ScriptValue:
        return await _get(target, path)

    async def set_(path: Any = None, value: Any = None) -> None:
        await _set(session, target, path, value)

    async def delete(path: Any = None) -> bool:
        return await _delete(session, target, path)

    async def keys(prefix: Any = None) -> list[str]:
        return await _keys(target, prefix)

    async def update(path: Any = None, fn: Any = None) -> Any:
        return await _update(session, target, path, fn)

    methods: dict[str, Any] = {
        "get": get,
        "set": set_,
        "delete": delete,
        "keys": keys,
        "update": update,
    }
    if type_name == "store":
        methods["transform"] = _transform_method(session, target)
        methods["merge"] = _merge_method(session, target)
    obj = HostObject(type_name, methods, {"scope": target.scope})
    _targets[obj] = lambda _session: target
    return obj


def _transform_method(session: Session, target: _Target) -> Any:
    async def transform_(spec: Any = None) -> HostObject:
        fn = "store.transform"
        if not isinstance(spec, dict) or spec.get("type") not in TRANSFORMS:
            raise ParameterError(fn, "type", f"must be one of {', '.join(TRANSFORMS)}")
        keys = spec.get("keys")
        if isinstance(keys, dict) and not keys:
            keys = []  # an empty Lua table
        if keys is not None and not (
            isinstance(keys, list) and all(isinstance(k, str) for k in keys)
        ):
            raise ParameterError(fn, "keys", "must be a list of key names or dot paths")
        extra = {"replacement": spec["replacement"]} if "replacement" in spec else {}
        result = await transform(target.store, target.scope, spec["type"], keys=keys, **extra)
        return _scope_object(session, _Target(result, target.scope), "store")

    return transform_


def _merge_method(session: Session, target: _Target) -> Any:
    async def merge_(other: Any = None, options: Any = None) -> HostObject:
        fn = "store.merge"
        resolve = _targets.get(other) if isinstance(other, HostObject) else None
        if resolve is None:
            raise ParameterError(fn, "other", "must be a store or scope object (state.create)")
        options = options or {}
        if not isinstance(options, dict):
            raise ParameterError(fn, "options", "must be a table {strategy, conflictResolution}")
        strategy = options.get("strategy", "deep")
        conflict = options.get("conflictResolution", "theirs")
        if strategy not in STRATEGIES:
            raise ParameterError(fn, "strategy", f"must be one of {', '.join(STRATEGIES)}")
        if conflict not in CONFLICTS:
            raise ParameterError(fn, "conflictResolution", f"must be one of {', '.join(CONFLICTS)}")
        theirs = resolve(session)
        result = await merge(
            target.store,
            theirs.store,
            target.scope,
            strategy=strategy,
            conflict=conflict,
            their_scope=theirs.scope,
        )
        return _scope_object(session, _Target(result, target.scope), "store")

    return merge_


def _create(session: Session, options: Any) -> HostObject:
    fn = "state.create"
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise ParameterError(fn, "options", "must be a table {persistence, path?}")
    for key in options:
        if key not in ("persistence", "path"):
            raise ParameterError(fn, str(key), "is not an option (known: path, persistence)")
    persistence = options.get("persistence", "memory")
    if persistence not in PERSISTENCE:
        raise ParameterError(fn, "persistence", f"must be one of {', '.join(PERSISTENCE)}")
    path = options.get("path")
    if persistence == "memory":
        if path is not None:
            raise ParameterError(fn, "path", "is only for persistence 'sqlite' or 'file'")
        store = create_state_store(":memory:")
    else:
        if not isinstance(path, str) or not path:
            raise ParameterError(fn, "path", f"is required for persistence {persistence!r}")
        store = create_state_store(_workspace_file(session, path), persistence=persistence)
        session.closers.append(store.aclose)
    return _scope_object(session, _Target(store, GLOBAL_SCOPE), "store")


def _workspace_file(session: Session, path: str) -> str:
    """``path`` inside the spell's workspace, if the run may write files there."""
    from ..tools import FS_WRITE
    from ..tools._workspace import Workspace

    permissions = session.services.get("permissions")
    if permissions is None or not permissions.grants(FS_WRITE):
        raise ParameterError(
            "state.create",
            "path",
            f"names a file, which needs the {FS_WRITE} permission (run with --allow {FS_WRITE})",
        )
    try:
        return str(Workspace(permissions, "state.create").resolve(path))
    except ToolError as exc:
        raise ParameterError("state.create", "path", exc.message.removeprefix("path ")) from None


# -- the namespace --------------------------------------------------------------------------------


def state_namespace() -> Namespace:
    """Build ``state`` (shared by every run; each call finds its run's store)."""

    def own(session: Session) -> _Target:
        return _Target(store_for(session), spell_scope(session))

    def global_(session: Session) -> _Target:
        return _Target(store_for(session), GLOBAL_SCOPE)

    def bound(target_of: Callable[[Session], _Target]) -> dict[str, Any]:
        @with_context
        async def get(session: Session, path: Any = None) -> ScriptValue:
            return await _get(target_of(session), path)

        @with_context
        async def set_(session: Session, path: Any = None, value: Any = None) -> None:
            await _set(session, target_of(session), path, value)

        @with_context
        async def delete(session: Session, path: Any = None) -> bool:
            return await _delete(session, target_of(session), path)

        @with_context
        async def keys(session: Session, prefix: Any = None) -> list[str]:
            return await _keys(target_of(session), prefix)

        @with_context
        async def update(session: Session, path: Any = None, fn: Any = None) -> Any:
            return await _update(session, target_of(session), path, fn)

        return {"get": get, "set": set_, "delete": delete, "keys": keys, "update": update}

    @sync_api
    @with_context
    async def scope(session: Session, name: Any = None) -> HostObject:
        return _scope_object(session, _Target(store_for(session), check_scope("state.scope", name)))

    @sync_api
    @with_context
    async def create(session: Session, options: Any = None) -> HostObject:
        return _create(session, options)

    global_object = HostObject("state", bound(global_), {"scope": GLOBAL_SCOPE})
    _targets[global_object] = global_
    return Namespace(
        {**bound(own), "scope": scope, "create": create}, values={"global": global_object}
    )
