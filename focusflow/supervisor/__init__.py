"""The actor runtime: actors, refs, supervision, and the ``Runtime`` interface.

Public surface (see ``docs/runtime.md``)::

    from focusflow.supervisor import Actor, ActorSystem, Supervisor, ChildSpec, SupervisorFlags

    class Counter(Actor):
        def __init__(self) -> None:
            self.n = 0
        async def receive(self, msg):
            self.n += 1
            return Count(self.n)          # answers an ask

    async with ActorSystem("local") as system:
        ref = system.spawn(Counter, name="counter")
        print(await ref.ask(Inc()))

The same actors run under the simulator (``focusflow.sim.Simulation``).
"""

from focusflow.supervisor._actor import ASK_TIMEOUT_MS_DEFAULT, Actor, ActorRef, Context
from focusflow.supervisor._database import (
    Database,
    DatabaseError,
    SqlError,
    Statement,
    StorageError,
    open_file_database,
    open_image_database,
)
from focusflow.supervisor._errors import (
    ActorCrashed,
    ActorError,
    ActorNotFound,
    ActorStartError,
    AskError,
    AskTimeout,
    MailboxFull,
    NotInActor,
)
from focusflow.supervisor._future import Future
from focusflow.supervisor._gate import REMOTE_PATH_CHARS_MAX, ROLES, RemoteGate, RemotePolicy
from focusflow.supervisor._live import (
    ActorSystem,
    FileStorage,
    LiveRuntime,
    LoopbackNetwork,
    MemoryStorage,
)
from focusflow.supervisor._node import (
    DEAD_LETTERS_MAX_DEFAULT,
    MAILBOX_DEPTH_MAX_DEFAULT,
    OVERFLOW_POLICIES,
    RUNTIME_KNOBS,
    SHUTDOWN_MS_DEFAULT,
    DeadLetter,
    DeferredReply,
    Node,
)
from focusflow.supervisor._runtime import Runtime, Storage, TimerHandle
from focusflow.supervisor._strategy import (
    ChildSpec,
    RestartPlan,
    SupervisorFlags,
    add_restart,
    backoff_ms,
    is_normal_exit,
    plan_restart,
    should_restart,
)
from focusflow.supervisor._supervisor import (
    ESCALATION_REASON,
    Supervisor,
    delete_child,
    resolve_class,
    restart_child,
    start_child,
    supervisor_spec,
    terminate_child,
    which_children,
)
from focusflow.supervisor._tree import tree_from_dict, tree_from_toml
from focusflow.wire.system import Down, Exit

__all__ = [
    "ASK_TIMEOUT_MS_DEFAULT",
    "DEAD_LETTERS_MAX_DEFAULT",
    "ESCALATION_REASON",
    "MAILBOX_DEPTH_MAX_DEFAULT",
    "OVERFLOW_POLICIES",
    "REMOTE_PATH_CHARS_MAX",
    "ROLES",
    "RUNTIME_KNOBS",
    "SHUTDOWN_MS_DEFAULT",
    "Actor",
    "ActorCrashed",
    "ActorError",
    "ActorNotFound",
    "ActorRef",
    "ActorStartError",
    "ActorSystem",
    "AskError",
    "AskTimeout",
    "ChildSpec",
    "Context",
    "Database",
    "DatabaseError",
    "DeadLetter",
    "DeferredReply",
    "Down",
    "Exit",
    "FileStorage",
    "Future",
    "LiveRuntime",
    "LoopbackNetwork",
    "MailboxFull",
    "MemoryStorage",
    "Node",
    "NotInActor",
    "RemoteGate",
    "RemotePolicy",
    "RestartPlan",
    "Runtime",
    "SqlError",
    "Statement",
    "Storage",
    "StorageError",
    "Supervisor",
    "SupervisorFlags",
    "TimerHandle",
    "add_restart",
    "backoff_ms",
    "delete_child",
    "is_normal_exit",
    "open_file_database",
    "open_image_database",
    "plan_restart",
    "resolve_class",
    "restart_child",
    "should_restart",
    "start_child",
    "supervisor_spec",
    "terminate_child",
    "tree_from_dict",
    "tree_from_toml",
    "which_children",
]
