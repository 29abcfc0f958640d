"""imflow: case management for Baden-Württemberg's Integrationsmanagement.

Counselling cases run through intake → assessment → planning → monitoring → closed,
with guards that enforce the programme's rules and explain every refusal.

>>> import imflow
>>> imflow.Phase.PLANNING.label("de")
'Integrationsplanung'
"""

from __future__ import annotations

from imflow import access, commands, events
from imflow.actors import Actor
from imflow.case import Case, Closure, Contact, Extension, Goal, Need, Plan, Transfer
from imflow.clock import FrozenClock, SteppingClock
from imflow.deadlines import Deadline, sweep
from imflow.engine import Engine, Policy
from imflow.enums import (
    Channel,
    ClosureReason,
    ConsentStatus,
    GoalStatus,
    LifeArea,
    Phase,
    Role,
)
from imflow.errors import (
    CaseNotFound,
    ConcurrencyConflict,
    Forbidden,
    IdempotencyKeyReused,
    ImflowError,
    InvalidClock,
    InvalidDocument,
    InvalidHistory,
    InvalidWorkflow,
    MasterKeyMismatch,
    MasterKeyMissing,
    OutOfBounds,
    Rejected,
    SchemaMissing,
    SchemaOutdated,
    SchemaTooNew,
    StoreError,
    WorkflowMismatch,
)
from imflow.guards import GuardContext
from imflow.hooks import Hooks
from imflow.outbox import CaseService, Runner
from imflow.reasons import Reason
from imflow.rules import RuleSet
from imflow.serialization import dumps, loads
from imflow.store import MemoryStore, PostgresStore, SQLiteStore, Store
from imflow.workflow import CommandDef, PhaseDef, Workflow, bw_integrationsmanagement

__version__ = "0.1.0"

__all__ = [
    "Actor",
    "Case",
    "CaseNotFound",
    "CaseService",
    "Channel",
    "Closure",
    "ClosureReason",
    "CommandDef",
    "ConcurrencyConflict",
    "ConsentStatus",
    "Contact",
    "Deadline",
    "Engine",
    "Extension",
    "Forbidden",
    "FrozenClock",
    "Goal",
    "GoalStatus",
    "GuardContext",
    "Hooks",
    "IdempotencyKeyReused",
    "ImflowError",
    "InvalidClock",
    "InvalidDocument",
    "InvalidHistory",
    "InvalidWorkflow",
    "LifeArea",
    "MasterKeyMismatch",
    "MasterKeyMissing",
    "MemoryStore",
    "Need",
    "OutOfBounds",
    "Phase",
    "PhaseDef",
    "Plan",
    "Policy",
    "PostgresStore",
    "Reason",
    "Rejected",
    "Role",
    "RuleSet",
    "Runner",
    "SQLiteStore",
    "SchemaMissing",
    "SchemaOutdated",
    "SchemaTooNew",
    "SteppingClock",
    "Store",
    "StoreError",
    "Transfer",
    "Workflow",
    "WorkflowMismatch",
    "access",
    "bw_integrationsmanagement",
    "commands",
    "dumps",
    "events",
    "loads",
    "sweep",
]
