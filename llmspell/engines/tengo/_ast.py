"""Tengo's syntax tree (``parser/expr.go``, ``parser/stmt.go``): the same nodes, fields and
``String()`` renderings. Positions are Tengo ``Pos`` values (1 + byte offset; 0 = none)."""

from __future__ import annotations

from ._ast_base import Node as Node
from ._ast_expr import ArrayLit as ArrayLit
from ._ast_expr import BadExpr as BadExpr
from ._ast_expr import BinaryExpr as BinaryExpr
from ._ast_expr import BoolLit as BoolLit
from ._ast_expr import CallExpr as CallExpr
from ._ast_expr import CharLit as CharLit
from ._ast_expr import CondExpr as CondExpr
from ._ast_expr import ErrorExpr as ErrorExpr
from ._ast_expr import FloatLit as FloatLit
from ._ast_expr import FuncLit as FuncLit
from ._ast_expr import FuncType as FuncType
from ._ast_expr import Ident as Ident
from ._ast_expr import IdentList as IdentList
from ._ast_expr import ImmutableExpr as ImmutableExpr
from ._ast_expr import ImportExpr as ImportExpr
from ._ast_expr import IndexExpr as IndexExpr
from ._ast_expr import IntLit as IntLit
from ._ast_expr import MapElementLit as MapElementLit
from ._ast_expr import MapLit as MapLit
from ._ast_expr import ParenExpr as ParenExpr
from ._ast_expr import SelectorExpr as SelectorExpr
from ._ast_expr import SliceExpr as SliceExpr
from ._ast_expr import StringLit as StringLit
from ._ast_expr import UnaryExpr as UnaryExpr
from ._ast_expr import UndefinedLit as UndefinedLit
from ._ast_expr import _Lit as _Lit
from ._ast_expr import _Wrapped as _Wrapped
from ._ast_stmt import AssignStmt as AssignStmt
from ._ast_stmt import BadStmt as BadStmt
from ._ast_stmt import BlockStmt as BlockStmt
from ._ast_stmt import BranchStmt as BranchStmt
from ._ast_stmt import EmptyStmt as EmptyStmt
from ._ast_stmt import ExportStmt as ExportStmt
from ._ast_stmt import ExprStmt as ExprStmt
from ._ast_stmt import File as File
from ._ast_stmt import ForInStmt as ForInStmt
from ._ast_stmt import ForStmt as ForStmt
from ._ast_stmt import IfStmt as IfStmt
from ._ast_stmt import IncDecStmt as IncDecStmt
from ._ast_stmt import ReturnStmt as ReturnStmt
