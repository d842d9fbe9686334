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
