from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Stdio(_message.Message):
    __slots__ = ("stdin_fd", "stdout_fd", "stderr_fd", "terminal_fd")
    STDIN_FD_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FD_FIELD_NUMBER: _ClassVar[int]
    STDERR_FD_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_FD_FIELD_NUMBER: _ClassVar[int]
    stdin_fd: int
    stdout_fd: int
    stderr_fd: int
    terminal_fd: int
    def __init__(self, stdin_fd: _Optional[int] = ..., stdout_fd: _Optional[int] = ..., stderr_fd: _Optional[int] = ..., terminal_fd: _Optional[int] = ...) -> None: ...

class StartRootRequest(_message.Message):
    __slots__ = ("container_id",)
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    def __init__(self, container_id: _Optional[str] = ...) -> None: ...

class CreateSubcontainerRequest(_message.Message):
    __slots__ = ("container_id", "terminal_fd", "spec_json", "stdio", "mounts", "resolved_mounts_json")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_FD_FIELD_NUMBER: _ClassVar[int]
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    STDIO_FIELD_NUMBER: _ClassVar[int]
    MOUNTS_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_MOUNTS_JSON_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    terminal_fd: int
    spec_json: bytes
    stdio: Stdio
    mounts: _containers.RepeatedCompositeFieldContainer[MountConfig]
    resolved_mounts_json: bytes
    def __init__(self, container_id: _Optional[str] = ..., terminal_fd: _Optional[int] = ..., spec_json: _Optional[bytes] = ..., stdio: _Optional[_Union[Stdio, _Mapping]] = ..., mounts: _Optional[_Iterable[_Union[MountConfig, _Mapping]]] = ..., resolved_mounts_json: _Optional[bytes] = ...) -> None: ...

class MountConfig(_message.Message):
    __slots__ = ("gofer_fd", "overlay", "filestore_fd")
    GOFER_FD_FIELD_NUMBER: _ClassVar[int]
    OVERLAY_FIELD_NUMBER: _ClassVar[int]
    FILESTORE_FD_FIELD_NUMBER: _ClassVar[int]
    gofer_fd: int
    overlay: bool
    filestore_fd: int
    def __init__(self, gofer_fd: _Optional[int] = ..., overlay: bool = ..., filestore_fd: _Optional[int] = ...) -> None: ...

class StartSubcontainerRequest(_message.Message):
    __slots__ = ("container_id", "spec_json", "stdio", "mounts", "dev_gofer_fd")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    STDIO_FIELD_NUMBER: _ClassVar[int]
    MOUNTS_FIELD_NUMBER: _ClassVar[int]
    DEV_GOFER_FD_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    spec_json: bytes
    stdio: Stdio
    mounts: _containers.RepeatedCompositeFieldContainer[MountConfig]
    dev_gofer_fd: int
    def __init__(self, container_id: _Optional[str] = ..., spec_json: _Optional[bytes] = ..., stdio: _Optional[_Union[Stdio, _Mapping]] = ..., mounts: _Optional[_Iterable[_Union[MountConfig, _Mapping]]] = ..., dev_gofer_fd: _Optional[int] = ...) -> None: ...

class ExecuteRequest(_message.Message):
    __slots__ = ("container_id", "process_json", "stdio")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    PROCESS_JSON_FIELD_NUMBER: _ClassVar[int]
    STDIO_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    process_json: bytes
    stdio: Stdio
    def __init__(self, container_id: _Optional[str] = ..., process_json: _Optional[bytes] = ..., stdio: _Optional[_Union[Stdio, _Mapping]] = ...) -> None: ...

class ExecuteResponse(_message.Message):
    __slots__ = ("pid",)
    PID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    def __init__(self, pid: _Optional[int] = ...) -> None: ...

class ProcessesRequest(_message.Message):
    __slots__ = ("container_id",)
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    def __init__(self, container_id: _Optional[str] = ...) -> None: ...

class Process(_message.Message):
    __slots__ = ("pid", "ppid", "uid", "threads", "command", "args", "start_time", "cpu_time_ns", "tty", "container_id")
    PID_FIELD_NUMBER: _ClassVar[int]
    PPID_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    THREADS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    CPU_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    TTY_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    ppid: int
    uid: int
    threads: int
    command: str
    args: _containers.RepeatedScalarFieldContainer[str]
    start_time: _timestamp_pb2.Timestamp
    cpu_time_ns: int
    tty: str
    container_id: str
    def __init__(self, pid: _Optional[int] = ..., ppid: _Optional[int] = ..., uid: _Optional[int] = ..., threads: _Optional[int] = ..., command: _Optional[str] = ..., args: _Optional[_Iterable[str]] = ..., start_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., cpu_time_ns: _Optional[int] = ..., tty: _Optional[str] = ..., container_id: _Optional[str] = ...) -> None: ...

class ProcessesResponse(_message.Message):
    __slots__ = ("processes",)
    PROCESSES_FIELD_NUMBER: _ClassVar[int]
    processes: _containers.RepeatedCompositeFieldContainer[Process]
    def __init__(self, processes: _Optional[_Iterable[_Union[Process, _Mapping]]] = ...) -> None: ...

class SignalRequest(_message.Message):
    __slots__ = ("container_id", "signal", "pid", "target")
    class Target(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PROCESS: _ClassVar[SignalRequest.Target]
        ALL_PROCESSES: _ClassVar[SignalRequest.Target]
        FOREGROUND_PROCESS_GROUP: _ClassVar[SignalRequest.Target]
    PROCESS: SignalRequest.Target
    ALL_PROCESSES: SignalRequest.Target
    FOREGROUND_PROCESS_GROUP: SignalRequest.Target
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    signal: int
    pid: int
    target: SignalRequest.Target
    def __init__(self, container_id: _Optional[str] = ..., signal: _Optional[int] = ..., pid: _Optional[int] = ..., target: _Optional[_Union[SignalRequest.Target, str]] = ...) -> None: ...

class WaitRequest(_message.Message):
    __slots__ = ("container_id",)
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    def __init__(self, container_id: _Optional[str] = ...) -> None: ...

class WaitPIDRequest(_message.Message):
    __slots__ = ("container_id", "pid")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    pid: int
    def __init__(self, container_id: _Optional[str] = ..., pid: _Optional[int] = ...) -> None: ...

class WaitResponse(_message.Message):
    __slots__ = ("wait_status", "exited_at")
    WAIT_STATUS_FIELD_NUMBER: _ClassVar[int]
    EXITED_AT_FIELD_NUMBER: _ClassVar[int]
    wait_status: int
    exited_at: _timestamp_pb2.Timestamp
    def __init__(self, wait_status: _Optional[int] = ..., exited_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PauseRequest(_message.Message):
    __slots__ = ("container_id",)
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    def __init__(self, container_id: _Optional[str] = ...) -> None: ...

class ResumeRequest(_message.Message):
    __slots__ = ("container_id",)
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    def __init__(self, container_id: _Optional[str] = ...) -> None: ...

class EventRequest(_message.Message):
    __slots__ = ("container_id",)
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    def __init__(self, container_id: _Optional[str] = ...) -> None: ...

class Stats(_message.Message):
    __slots__ = ("cpu_user_ns", "cpu_system_ns", "memory_usage_bytes", "memory_limit_bytes", "pids_current", "pids_limit")
    CPU_USER_NS_FIELD_NUMBER: _ClassVar[int]
    CPU_SYSTEM_NS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_BYTES_FIELD_NUMBER: _ClassVar[int]
    PIDS_CURRENT_FIELD_NUMBER: _ClassVar[int]
    PIDS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    cpu_user_ns: int
    cpu_system_ns: int
    memory_usage_bytes: int
    memory_limit_bytes: int
    pids_current: int
    pids_limit: int
    def __init__(self, cpu_user_ns: _Optional[int] = ..., cpu_system_ns: _Optional[int] = ..., memory_usage_bytes: _Optional[int] = ..., memory_limit_bytes: _Optional[int] = ..., pids_current: _Optional[int] = ..., pids_limit: _Optional[int] = ...) -> None: ...

class EventResponse(_message.Message):
    __slots__ = ("status", "stats", "oom_killed")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    OOM_KILLED_FIELD_NUMBER: _ClassVar[int]
    status: str
    stats: Stats
    oom_killed: bool
    def __init__(self, status: _Optional[str] = ..., stats: _Optional[_Union[Stats, _Mapping]] = ..., oom_killed: bool = ...) -> None: ...

class DestroySubcontainerRequest(_message.Message):
    __slots__ = ("container_id",)
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    def __init__(self, container_id: _Optional[str] = ...) -> None: ...

class ResizeTerminalRequest(_message.Message):
    __slots__ = ("container_id", "pid", "rows", "cols")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    pid: int
    rows: int
    cols: int
    def __init__(self, container_id: _Optional[str] = ..., pid: _Optional[int] = ..., rows: _Optional[int] = ..., cols: _Optional[int] = ...) -> None: ...
