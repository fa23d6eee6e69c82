"""The kernel command a notebook runs under while a fork server is up (:mod:`stprompt.run.forkserver`).

Run as a script, never imported by the package: ``python forkclient.py SOCKET KERNEL_CMD...``. It
uses the standard library only, so it starts in milliseconds. It asks the fork server at ``SOCKET``
to fork a kernel that runs ``KERNEL_CMD`` (``python -m ipykernel_launcher -f <connection file>``)
with this process's working folder, environment and standard streams, then stands in for it:

- signals it receives (SIGINT from a timeout or Ctrl-C, SIGTERM, ...) are forwarded to the kernel;
- it exits when the kernel exits, with its exit code;
- if it is killed (SIGKILL from jupyter_client), the server sees its socket close and kills the
  kernel, so a killed kernel never outlives its manager.

When the server is not reachable (not ready yet, stopped) or refuses (the environment differs in
something its preloaded modules already read), the client becomes the kernel itself: it ``exec``\\ s
``KERNEL_CMD``, which is exactly what jupyter_client would have started without the fork server.
"""

import json
import os
import signal
import socket
import sys

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def main(argv: list) -> int:
    if len(argv) < 3:
        sys.stderr.write("usage: forkclient.py SOCKET KERNEL_CMD...\n")
        return 2
    path, cmd = argv[1], argv[2:]

    def become_kernel() -> None:
        os.execv(cmd[0], cmd)

    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        request = json.dumps({"argv": cmd, "cwd": os.getcwd(), "env": dict(os.environ)}).encode() + b"\n"
        socket.send_fds(sock, [request], [0, 1, 2])
        replies = sock.makefile("rb")
        reply = json.loads(replies.readline() or b'{"refused": "the server closed the connection"}')
    except (OSError, ValueError):
        become_kernel()
    if "pid" not in reply:
        sock.close()
        become_kernel()
    pid = int(reply["pid"])

    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    line = replies.readline()  # blocks until the kernel exits (signal handlers run meanwhile)
    try:
        return int(json.loads(line)["exit"]) if line else 1
    except (ValueError, KeyError):
        return 1


if __name__ == "__main__":
    code = main(sys.argv)
    sys.exit(code if 0 <= code < 256 else 128 + abs(code) % 128)
