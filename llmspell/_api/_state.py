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

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, TypeVar

from .._exceptions import ParameterError, ToolError
from .._ops import RunContext
from ..engines import HostObject, Namespace, ScriptFunction, ScriptValue, sync_api, with_context
from ..state import (
    CONFLICTS,
    PERSISTENCE,
    STRATEGIES,
    TRANSFORMS,
    StateStore,
    check_scope,
    create_state_store,
    merge,
    transform,
)
from ._values import to_script

GLOBAL_SCOPE = "global"
"""The scope of ``state.global``, and of every store made by ``state.create``."""

_T = TypeVar("_T")


def store_for(ctx: RunContext) -> StateStore:
    """The runtime's state store, as the run ``ctx`` sees it."""
    return ctx.ops.state


def spell_scope(ctx: RunContext) -> str:
    """The scope of the bare ``state.*`` calls: ``spell:<name>``."""
    return f"spell:{ctx.spell}"


class _Target(NamedTuple):
    """Where a script call acts: a store and a scope in it."""

    store: StateStore
    scope: str


TargetOf = Callable[[RunContext], _Target]
"""Finds a call's target from its run (the runtime's store, or a store the spell made)."""


def _write(
    ctx: RunContext, target: _Target, path: Any, value: Any, apply: Callable[[Any], Awaitable[_T]]
) -> Awaitable[_T]:
    """Every change a spell makes to state passes here: through the instrumented path
    (``state.before_write`` → the store → ``state.after_write``, then ``state.changed``).
    (Returns the awaitable, a coroutine frame less on every write.)"""
    shown = path if isinstance(path, str) else str(path)
    return ctx.ops.write_state(ctx, target.store, target.scope, shown, value, apply)


def _calls(target_of: TargetOf) -> dict[str, Any]:
    """``get/set/delete/keys/update`` acting on ``target_of(ctx)``."""

    @with_context
    async def get(ctx: RunContext, path: Any = None) -> ScriptValue:
        store, scope = target_of(ctx)
        return to_script(await store.get(scope, path))

    @with_context
    async def set_(ctx: RunContext, path: Any = None, value: Any = None) -> None:
        store, scope = target = target_of(ctx)

        async def apply(new: Any) -> Any:
            await store.set(scope, path, new)
            return new

        await _write(ctx, target, path, value, apply)

    @with_context
    async def delete(ctx: RunContext, path: Any = None) -> bool:
        store, scope = target = target_of(ctx)

        async def apply(_: Any) -> bool:
            return await store.delete(scope, path)

        return await _write(ctx, target, path, None, apply)

    @with_context
    async def keys(ctx: RunContext, prefix: Any = None) -> list[str]:
        store, scope = target_of(ctx)
        return await store.keys(scope, prefix)

    @with_context
    async def update(ctx: RunContext, path: Any = None, fn: Any = None) -> ScriptValue:
        if not isinstance(fn, ScriptFunction):
            raise ParameterError(
                "state.update", "fn", "must be a function(current) returning the new value"
            )

        async def new_value(current: Any) -> Any:
            return await fn(to_script(current))

        store, scope = target = target_of(ctx)

        async def apply(_: Any) -> Any:
            return await store.update(scope, path, new_value)

        return to_script(await _write(ctx, target, path, None, apply))

    return {"get": get, "set": set_, "delete": delete, "keys": keys, "update": update}


# -- objects ------------------------------------------------------------------------------------


def _state_object(target_of: TargetOf, scope: str, *, store: bool = False) -> HostObject:
    """A script object with the five calls; a ``store`` (from state.create, a transform or a
    merge) also has ``transform`` and ``merge``."""
    methods = _calls(target_of)
    if store:
        methods["transform"] = _transform_method(target_of)
        methods["merge"] = _merge_method(target_of)
    return HostObject("store" if store else "state", methods, {"scope": scope}, target=target_of)


def _object_on(store: StateStore, scope: str, *, is_store: bool) -> HostObject:
    """A script object on one fixed store and scope."""
    target = _Target(store, scope)
    return _state_object(lambda ctx: target, scope, store=is_store)


def _transform_method(target_of: TargetOf) -> Any:
    @with_context
    async def transform_(ctx: RunContext, spec: Any = None) -> HostObject:
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
        store, scope = target_of(ctx)
        result = await transform(store, scope, spec["type"], keys=keys, **extra)
        return _object_on(result, scope, is_store=True)

    return transform_


def _merge_method(target_of: TargetOf) -> Any:
    @with_context
    async def merge_(ctx: RunContext, other: Any = None, options: Any = None) -> HostObject:
        fn = "store.merge"
        theirs_of = other.target if isinstance(other, HostObject) else None
        if not callable(theirs_of):
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
        ours, theirs = target_of(ctx), theirs_of(ctx)
        result = await merge(
            ours.store,
            theirs.store,
            ours.scope,
            strategy=strategy,
            conflict=conflict,
            their_scope=theirs.scope,
        )
        return _object_on(result, ours.scope, is_store=True)

    return merge_


def _create(ctx: RunContext, options: Any) -> HostObject:
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
        store = create_state_store(_workspace_file(ctx, path), persistence=persistence)
        ctx.closers.append(store.aclose)
    return _object_on(store, GLOBAL_SCOPE, is_store=True)


def _workspace_file(ctx: RunContext, path: str) -> str:
    """``path`` inside the spell's workspace, if the run may write files there."""
    from ..tools import FS_WRITE, Workspace

    permissions = ctx.permissions
    if not permissions.grants(FS_WRITE):
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


def _own(ctx: RunContext) -> _Target:
    return _Target(store_for(ctx), spell_scope(ctx))


def _global(ctx: RunContext) -> _Target:
    return _Target(store_for(ctx), GLOBAL_SCOPE)


def state_namespace() -> Namespace:
    """Build ``state`` (shared by every run; each call finds its run's store)."""

    @sync_api
    @with_context
    async def scope(ctx: RunContext, name: Any = None) -> HostObject:
        return _object_on(store_for(ctx), check_scope("state.scope", name), is_store=False)

    @sync_api
    @with_context
    async def create(ctx: RunContext, options: Any = None) -> HostObject:
        return _create(ctx, options)

    return Namespace(
        {**_calls(_own), "scope": scope, "create": create},
        values={"global": _state_object(_global, GLOBAL_SCOPE)},
    )
