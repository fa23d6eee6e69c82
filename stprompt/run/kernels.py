"""The Jupyter kernel manager every notebook of the suite runs under (``stprompt reproduce``, the
ablation grids, ``make notebooks``): its own module so that :mod:`stprompt.run.runner` and
:mod:`stprompt.run.notebooks` share it without importing each other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_KERNEL_MANAGER: Any = None
#: The socket of the running fork server (:mod:`stprompt.run.forkserver`), None when there is none.
FORK_SOCKET: str | None = None


def kernel_manager_class() -> type:
    """The kernel manager every notebook of the suite runs under: jupyter_client's, with two
    differences that keep the console quiet and honest.

    - **IPC transport** in a private temporary folder instead of TCP on localhost: the kernel and
      its client are on the same machine, Unix sockets are private to the user, and ipykernel does
      not print its "running over TCP without encryption" warning at every kernel start.
    - **No interrupt before the shutdown request.** jupyter_client interrupts a kernel (SIGINT)
      before asking it to shut down; a kernel busy with a message at that instant logs
      ``ERROR | KeyboardInterrupt caught in kernel`` although the notebook succeeded. The
      notebook has finished when we shut its kernel down, so the interrupt is skipped then (a
      timeout or Ctrl-C still interrupts as before).
    - **Warm kernels** while a fork server runs (:func:`stprompt.run.forkserver.fork_server`, as
      the ablation grids do): the kernel is launched through its client, which has the server
      fork it from a process that has already imported the notebook's modules.
    """
    global _KERNEL_MANAGER
    if _KERNEL_MANAGER is None:
        import shutil
        import tempfile

        from jupyter_client.manager import AsyncKernelManager
        from traitlets import default

        class SuiteKernelManager(AsyncKernelManager):
            @default("transport")
            def _default_transport(self) -> str:
                return "ipc"

            @default("ip")
            def _default_ip(self) -> str:  # socket files kernel-N under a folder of our own
                self._ipc_dir = tempfile.mkdtemp(prefix="stprompt-kernel-")
                return str(Path(self._ipc_dir) / "kernel")

            def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
                cmd = super().format_kernel_cmd(extra_arguments)
                if FORK_SOCKET is None:
                    return cmd
                from .forkserver import client_command

                return client_command(cmd, FORK_SOCKET)

            async def _async_interrupt_kernel(self) -> None:
                if getattr(self, "shutting_down", False):
                    return
                await super()._async_interrupt_kernel()

            def cleanup_ipc_files(self) -> None:
                super().cleanup_ipc_files()
                if getattr(self, "_ipc_dir", None):
                    shutil.rmtree(self._ipc_dir, ignore_errors=True)

        _KERNEL_MANAGER = SuiteKernelManager
    return _KERNEL_MANAGER
