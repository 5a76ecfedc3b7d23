"""Symbol tables, as Tengo's ``symbol_table.go`` resolves names (globals, locals, builtins,
free variables), plus which locals live in cells because a nested function captures them."""

from __future__ import annotations

from . import _ast as A

GLOBAL, LOCAL, BUILTIN, FREE = "GLOBAL", "LOCAL", "BUILTIN", "FREE"


class Symbol:
    __slots__ = ("assigned", "cell", "index", "name", "scope")

    def __init__(self, name: str, scope: str, index: int, cell: bool = False) -> None:
        self.name = name
        self.scope = scope
        self.index = index
        self.assigned = False
        self.cell = cell


class Function:
    """Per function being compiled: its slot counter and the names nested functions use."""

    __slots__ = ("captured", "nslots")

    def __init__(self, captured: frozenset[str]) -> None:
        self.nslots = 0
        self.captured = captured


class Globals:
    """What all the tables of one file share: the global slot count and, when checking
    (``defined`` not None), every name the file defines in any scope."""

    __slots__ = ("count", "defined")

    def __init__(self) -> None:
        self.count = 1  # slot 0 of the globals list holds the runtime context
        self.defined: set[str] | None = None


class Table:
    """One symbol table: a function's (``block=False``) or a block's inside it."""

    def __init__(
        self,
        parent: Table | None,
        block: bool,
        function: Function | None,
        globals_: Globals,
    ) -> None:
        self.parent = parent
        self.block = block
        self.function = function
        self.globals = globals_
        self.store: dict[str, Symbol] = {}
        self.free: list[Symbol] = []

    def fork(self, block: bool, function: Function | None = None) -> Table:
        return Table(self, block, function if not block else self.function, self.globals)

    def is_global_scope(self) -> bool:
        """Whether definitions here are globals (Tengo: ``Parent(true) == nil``)."""
        t: Table | None = self
        while t is not None and t.block:
            t = t.parent
        return t is None or t.parent is None

    def function_table(self) -> Table:
        t = self
        while t.block and t.parent is not None:
            t = t.parent
        return t

    def define(self, name: str) -> Symbol:
        if self.is_global_scope():
            sym = Symbol(name, GLOBAL, self.globals.count)
            self.globals.count += 1
        else:
            fn = self.function
            assert fn is not None
            sym = Symbol(name, LOCAL, fn.nslots, name in fn.captured)
            fn.nslots += 1
        self.store[name] = sym
        if self.globals.defined is not None:
            self.globals.defined.add(name)
        return sym

    def define_builtin(self, name: str, index: int) -> Symbol:
        sym = Symbol(name, BUILTIN, index)
        self.store[name] = sym
        return sym

    def resolve(self, name: str, recur: bool = False) -> tuple[Symbol, int] | None:
        sym = self.store.get(name)
        if sym is not None and (sym.scope != LOCAL or sym.assigned or recur):
            return sym, 0
        if self.parent is None:
            return None
        found = self.parent.resolve(name, True)
        if found is None:
            return None
        sym, depth = found
        depth += 1
        if not self.block and sym.scope not in (GLOBAL, BUILTIN):
            self.free.append(sym)
            free = Symbol(name, FREE, len(self.free) - 1)
            self.store[name] = free
            return free, depth
        return sym, depth


Position = tuple[int, int]
"""(line, column), both 1-based."""


class Lenient:
    """Check mode (``llmspell check``, :meth:`TengoEngine.check`): the script API's globals
    are not known, so a name that resolves to nothing is taken as a global the host provides,
    defined where it is first used. Each use of such a name and each ``name.member`` on it is
    noted with its position (:mod:`._facts` reports them)."""

    def __init__(self) -> None:
        self.defined: set[str] = set()
        """Every name the file defines itself, in any scope."""
        self.first: dict[str, tuple[Symbol, A.Ident]] = {}
        self.reads: dict[tuple[str, Position], None] = {}
        self.members: dict[tuple[str, str, Position], None] = {}

    def define(self, table: Table, node: A.Ident) -> tuple[Symbol, int]:
        """Define ``node``'s name as a host global; returns what ``table`` resolves it to."""
        root = table
        while root.parent is not None:
            root = root.parent
        shared = root.globals
        shared.defined = None  # not defined by the file
        try:
            sym = root.define(node.name)
        finally:
            shared.defined = self.defined
        self.first[node.name] = (sym, node)
        found = table.resolve(node.name)
        assert found is not None
        return found

    def is_host(self, sym: Symbol) -> bool:
        found = self.first.get(sym.name)
        return found is not None and found[0] is sym

    def read(self, sym: Symbol, where: Position) -> None:
        """Note a use of ``sym`` (when it is a host global). A node compiled twice (the
        compiler's fast paths) is noted once."""
        if self.is_host(sym):
            self.reads[(sym.name, where)] = None

    def member(self, sym: Symbol, member: str, where: Position) -> None:
        if self.is_host(sym):
            self.members[(sym.name, member, where)] = None


def captured_names(body: A.Node) -> frozenset[str]:
    """Every identifier used inside function literals nested in ``body`` (a conservative set
    of the names a nested closure may capture)."""
    names: set[str] = set()

    def walk(node: object, inside: bool) -> None:
        if isinstance(node, A.Ident):
            if inside:
                names.add(node.name)
            return
        if isinstance(node, A.FuncLit):
            walk(node.body, True)
            return
        if isinstance(node, list):
            for item in node:
                walk(item, inside)
            return
        if isinstance(node, A.Node):
            for slot in _slots(type(node)):
                walk(getattr(node, slot), inside)

    walk(body, False)
    return frozenset(names)


_SLOT_CACHE: dict[type, tuple[str, ...]] = {}


def _slots(cls: type) -> tuple[str, ...]:
    slots = _SLOT_CACHE.get(cls)
    if slots is None:
        found: list[str] = []
        for klass in cls.__mro__:
            found.extend(getattr(klass, "__slots__", ()))
        slots = _SLOT_CACHE[cls] = tuple(s for s in found if s not in ("literal",))
    return slots
