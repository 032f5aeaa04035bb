"""The control API's messages as ``Sandbox`` uses them: the request and
response type of each method, the FDs a call passes, and the results in
the shapes the CLI prints (runc's ``ps`` and ``events --stats``).

Apart from ``runtime.sandbox`` so that the messages and the control client
load only when a call is made: ``create`` spawns boot first, then imports
them while boot starts. The messages are ``protos.lite``'s (control_lite),
the same bytes as protobuf's: the CLI's calls need no protobuf runtime,
which costs ~15 ms to import.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from protos.pysandbox.control.v1 import control_lite as pb
from runtime.errors import RuntimeFailure
from runtime.spec import Process

if TYPE_CHECKING:
    from runtime.sandbox import CreateArgs, ExecArgs

__all__ = ["fds_of", "pb", "request_for", "result_of"]


def request_for(method: str, kwargs: dict[str, Any]) -> tuple[Any, type]:
    """The request and response types of ``method`` from Sandbox's arguments."""
    cid = kwargs.get("container_id", "")
    if method == "StartRoot":
        return pb.StartRootRequest(container_id=cid), pb.Empty
    if method == "Wait":
        return pb.WaitRequest(container_id=cid), pb.WaitResponse
    if method == "WaitPID":
        return pb.WaitPIDRequest(container_id=cid, pid=kwargs["pid"]), pb.WaitResponse
    if method == "Signal":
        target = {  # runtime.sandbox.SignalMode's values
            "init": pb.SignalRequest.PROCESS,
            "pid": pb.SignalRequest.PROCESS,
            "all": pb.SignalRequest.ALL_PROCESSES,
            "foreground": pb.SignalRequest.FOREGROUND_PROCESS_GROUP,
        }[kwargs["mode"].value]
        req = pb.SignalRequest(
            container_id=cid, signal=kwargs["signo"], pid=kwargs.get("pid", 0), target=target
        )
        return req, pb.Empty
    if method == "Processes":
        return pb.ProcessesRequest(container_id=cid), pb.ProcessesResponse
    if method == "Event":
        return pb.EventRequest(container_id=cid), pb.EventResponse
    if method == "Pause":
        return pb.PauseRequest(), pb.Empty
    if method == "Resume":
        return pb.ResumeRequest(), pb.Empty
    if method == "ResizeTerminal":
        req_resize = pb.ResizeTerminalRequest(
            container_id=cid, pid=kwargs["pid"], rows=kwargs["rows"], cols=kwargs["cols"]
        )
        return req_resize, pb.Empty
    if method == "Execute":
        exec_args: ExecArgs = kwargs["args"]
        process_json = json.dumps(_process_to_json(exec_args.process))
        if kwargs.get("terminal", -1) >= 0:
            stdio = pb.Stdio(terminal_fd=0)
        else:
            stdio, _ = _stdio_indices(exec_args.stdio)
        return (
            pb.ExecuteRequest(container_id=cid, process_json=process_json.encode(), stdio=stdio),
            pb.ExecuteResponse,
        )
    if method == "CreateSubcontainer":
        create: CreateArgs = kwargs["args"]
        if kwargs.get("terminal", -1) >= 0:
            stdio, n = pb.Stdio(), 1
        else:
            stdio, n = _stdio_indices(create.stdio)
        create_req = pb.CreateSubcontainerRequest(
            container_id=cid,
            spec_json=json.dumps(dict(create.spec.raw)).encode(),
            stdio=stdio,
            resolved_mounts_json=kwargs["resolved"],
        )
        if kwargs.get("terminal", -1) >= 0:
            create_req.terminal_fd = 0
        for i in range(len(kwargs["gofer_fds"])):
            create_req.mounts.add(gofer_fd=n + i)
        return create_req, pb.Empty
    if method == "StartSubcontainer":
        return pb.StartSubcontainerRequest(container_id=cid), pb.Empty
    if method == "DestroySubcontainer":
        return pb.DestroySubcontainerRequest(container_id=cid), pb.Empty
    raise RuntimeFailure(f"unknown control method {method}")


def _process_to_json(p: Process) -> dict[str, Any]:
    """An OCI ``process`` object (runtime-spec config.md) for Execute."""
    user: dict[str, Any] = {"uid": p.user.uid, "gid": p.user.gid}
    if p.user.additional_gids:
        user["additionalGids"] = list(p.user.additional_gids)
    if p.user.umask is not None:
        user["umask"] = p.user.umask
    out: dict[str, Any] = {
        "terminal": p.terminal,
        "user": user,
        "args": list(p.args),
        "env": list(p.env),
        "cwd": p.cwd,
        "noNewPrivileges": p.no_new_privileges,
    }
    if p.capabilities is not None:
        c = p.capabilities
        out["capabilities"] = {
            "bounding": list(c.bounding),
            "effective": list(c.effective),
            "inheritable": list(c.inheritable),
            "permitted": list(c.permitted),
            "ambient": list(c.ambient),
        }
    if p.rlimits:
        out["rlimits"] = [{"type": r.type, "soft": r.soft, "hard": r.hard} for r in p.rlimits]
    return out


def _stdio_indices(fds: tuple[int, int, int]) -> tuple[pb.Stdio, int]:
    """A Stdio naming the present streams by their index among the passed
    FDs (see ``fds_of``), and how many there are; absent (-1) streams are
    /dev/null in the sandbox."""
    stdio = pb.Stdio()
    index = 0
    for name, fd in zip(("stdin_fd", "stdout_fd", "stderr_fd"), fds, strict=True):
        if fd >= 0:
            setattr(stdio, name, index)
            index += 1
    return stdio, index


def fds_of(method: str, kwargs: dict[str, Any]) -> list[int]:
    """The FDs a call passes (SCM_RIGHTS), in the order its request names them."""
    terminal = kwargs.get("terminal", -1)
    if method == "Execute":
        if terminal >= 0:
            return [terminal]
        return [fd for fd in kwargs["args"].stdio if fd >= 0]
    if method == "CreateSubcontainer":
        if terminal >= 0:
            return [terminal, *kwargs["gofer_fds"]]
        return [fd for fd in kwargs["args"].stdio if fd >= 0] + list(kwargs["gofer_fds"])
    return []


def _process_json(p: Any) -> dict[str, Any]:
    """A control.v1 Process as the dict ``ps`` prints (runc's ps columns)."""
    started = p.start_time.ToSeconds() if p.HasField("start_time") else 0
    cpu = p.cpu_time_ns // 1_000_000_000
    return {
        "pid": p.pid,
        "ppid": p.ppid,
        "uid": p.uid,
        "c": 0,
        "stime": time.strftime("%H:%M", time.localtime(started)) if started else "",
        "tty": p.tty or "?",
        "time": f"{cpu // 3600:02d}:{cpu // 60 % 60:02d}:{cpu % 60:02d}",
        "cmd": " ".join(p.args) or p.command,
        "threads": p.threads,
    }


def _event_json(resp: Any) -> dict[str, Any]:
    """Sentry-accounted stats in runc's ``events --stats`` shape."""
    st = resp.stats
    return {
        "cpu": {
            "usage": {
                "total": st.cpu_user_ns + st.cpu_system_ns,
                "user": st.cpu_user_ns,
                "kernel": st.cpu_system_ns,
            }
        },
        "memory": {"usage": {"usage": st.memory_usage_bytes, "limit": st.memory_limit_bytes}},
        "pids": {"current": st.pids_current, "limit": st.pids_limit},
    }


def result_of(method: str, resp: Any) -> Any:
    """What ``Sandbox._call`` returns for ``method``'s response."""
    if method in ("Wait", "WaitPID"):
        return resp.wait_status
    if method == "Execute":
        return resp.pid
    if method == "Processes":
        return [_process_json(p) for p in resp.processes]
    if method == "Event":
        return _event_json(resp)
    return None
