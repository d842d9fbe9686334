"""The one error hierarchy of kenshin; adapters wrap vendor exceptions in these."""


class KenshinError(Exception):
    """Base of every error kenshin raises on purpose."""


class ConfigError(KenshinError):
    """The configuration is invalid; the message names the key and the fix."""


class NotFoundError(KenshinError):
    """A customer, device or meter that was asked for does not exist."""


class AlreadyExistsError(KenshinError):
    """An object with that id exists already."""


class StoreError(KenshinError):
    """The store failed; wraps the backend's own exception."""


class ExportError(KenshinError):
    """A customer file could not be built or published."""


class UnitError(KenshinError):
    """The unit cannot publish at all: its files are missing or unusable, or the endpoint
    is not one its CA certificate trusts."""


class WakeFailed(KenshinError):
    """One wake of one unit failed; its messages can go at its next wake."""


class ProtocolError(KenshinError):
    """A peer broke a wire protocol's rules; ``reason_code`` is the protocol's own code for
    it (MQTT 5: the reason code sent in CONNACK or DISCONNECT)."""

    def __init__(self, message: str, reason_code: int) -> None:
        super().__init__(message)
        self.reason_code = reason_code


class PayloadError(KenshinError, ValueError):
    """A message's payload is not what its format says; the text is the dead-letter reason."""
