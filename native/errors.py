"""Errors raised by the native layer (probe, build profiles, engine build).

The native layer runs before any virtualenv exists, so it cannot share the
`livemind` error tree; its root is `NativeError`, which callers may wrap.

    NativeError
    ├── ProfileError   unknown profile, a broken profiles.toml, or a profile this CPU cannot run
    └── BuildError     building or installing the llama-cpp-python wheel failed

Each message says what happened and what to do next.
"""


class NativeError(Exception):
    """Root of every error raised by the native layer."""


class ProfileError(NativeError):
    """A build profile is unknown, malformed, or does not fit this CPU."""


class BuildError(NativeError):
    """Building or installing the engine wheel failed."""
