# SPDX-License-Identifier: MIT OR Apache-2.0
"""The suite's YNL server: one Python process per suite run that runs the kernel's YNL CLI
(tools/net/ynl/cli.py) for every YNL test, so that Python starts, the YNL library is imported and
each spec is parsed once per run instead of once per call (each of those costs seconds under TCG).

Usage: ynl_server.py YNL_DIR DEFAULT_SPEC (the lab's `ynl-server` launcher passes both).

One JSON request per line on stdin, for example
  {"args": ["--do", "echo", "--json", "{\"msg\": \"hi\"}"], "netns": "/proc/1/task/9/ns/net"}
  optional: "unprivileged": true (without CAP_NET_ADMIN), "events": N (see below).
Each request runs in a forked child, as `ynl ARGS` would run (the default spec and --no-schema
unless ARGS name a --spec), in the network namespace named by "netns". Two JSON lines answer it:
  {"pid": PID}                                      as soon as the child runs
  {"code": EXIT, "stdout": TEXT, "stderr": TEXT}    when it has ended
"events": N makes `--sleep S` a deadline: the child stops sleeping once N notifications came.
"""

import ctypes
import json
import os
import select
import sys
import tempfile
import time
import traceback

YNL_DIR, DEFAULT_SPEC = sys.argv[1], sys.argv[2]
sys.path.insert(0, YNL_DIR)
import cli  # noqa: E402  (the kernel's CLI, and through it the YNL library)
from lib import nlspec  # noqa: E402

CLONE_NEWNET = 0x40000000
CAP_NET_ADMIN = 12
LIBC = ctypes.CDLL(None, use_errno=True)

# Each spec parsed once, here in the server; the children find it parsed.
parsed = {}
parse = nlspec.yaml.safe_load


def parsed_once(stream):
    key = os.path.realpath(stream.name)
    if key not in parsed:
        parsed[key] = parse(stream)
    return parsed[key]


nlspec.yaml.safe_load = parsed_once


def spec_of(args):
    if "--spec" in args:
        return args[args.index("--spec") + 1]
    return DEFAULT_SPEC


def preload(args):
    try:
        with open(spec_of(args)) as stream:
            parsed_once(stream)
    except Exception:
        pass  # the CLI, in the child, reports it as it would without the server


def check(ret, what):
    if ret != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def enter_netns(path):
    fd = os.open(path, os.O_RDONLY)
    check(LIBC.setns(fd, CLONE_NEWNET), "setns")
    os.close(fd)


def drop_net_admin():
    """What `setpriv --bounding-set=-net_admin --inh-caps=-net_admin` leaves root with."""
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = (ctypes.c_uint32 * 6)()  # two of {effective, permitted, inheritable}
    check(LIBC.capget(header, data), "capget")
    for field in range(3):
        data[field] &= ~(1 << CAP_NET_ADMIN)
    check(LIBC.prctl(24, CAP_NET_ADMIN, 0, 0, 0), "prctl(PR_CAPBSET_DROP)")
    check(LIBC.capset(header, data), "capset")


def until_events(count, families):
    """time.sleep for `--sleep S`: returns once `count` notifications came, or after S seconds."""
    def sleep(seconds):
        ynl = families[-1]
        deadline = time.monotonic() + seconds
        while len(ynl.async_msg_queue) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            select.select([ynl.sock], [], [], left)
            ynl.check_ntf()
    return sleep


def child(request, protocol):
    os.close(protocol)
    enter_netns(request["netns"])
    if request.get("unprivileged"):
        drop_net_admin()
    args = request["args"]
    if "--spec" not in args:
        args = ["--spec", DEFAULT_SPEC, "--no-schema"] + args
    if "events" in request:
        families = []

        class Recorded(cli.YnlFamily):
            def __init__(self, *a, **kw):
                super().__init__(*a, **kw)
                families.append(self)

        cli.YnlFamily = Recorded
        cli.time.sleep = until_events(request["events"], families)
    sys.argv = [cli.__file__] + args  # argparse names the program as `ynl` did
    code = 0
    try:
        cli.main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, (int, type(None))):
            print(e.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def serve(request, answer, protocol):
    preload(request["args"])
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            child(request, protocol)
        except BaseException:
            traceback.print_exc()  # the server's own failure, in the child: its stderr says why
        os._exit(70)
    answer({"pid": pid})
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    texts = []
    for f in (out, err):
        f.seek(0)
        texts.append(f.read().decode(errors="replace"))
        f.close()
    answer({"code": code, "stdout": texts[0], "stderr": texts[1]})


def main():
    # Standard output is the children's (after dup2): the answers go out on a descriptor of their own.
    protocol = os.dup(1)
    channel = os.fdopen(protocol, "w", closefd=False)

    def answer(message):
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    for line in sys.stdin:
        serve(json.loads(line), answer, protocol)


if __name__ == "__main__":
    main()
