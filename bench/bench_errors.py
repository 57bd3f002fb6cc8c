"""The error of the benchmark, in a module of its own: the pure tests import it (and
what uses it) without the libraries that drive the Odoo server, such as psutil."""


class BenchError(RuntimeError):
    """A measurement or the harness failed; the message says why."""
