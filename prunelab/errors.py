"""The error type for a bad configuration: reported as one line, before any compute."""


class ConfigError(ValueError):
    """A user's configuration value is invalid; the message names the value and what is valid."""
