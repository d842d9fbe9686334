"""Settings of a site whose units connect to AWS IoT Core (docs/aws.md): where
``kenshin devices`` registers the certificates it issues and deactivates those it
revokes, in addition to its own store, and where the export function sends the units'
commands."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IotCoreConfig(_Section):
    """AWS IoT Core, beside kenshin's own endpoint."""

    enabled: bool = Field(
        False,
        description="units connect to AWS IoT Core: kenshin devices add and revoke act on it"
        " too, and the export function sends the units' commands through it",
    )
    region: str = Field(
        "",
        pattern=r"^([a-z]{2}(-[a-z]+)+-\d+)?$",
        description="the AWS region of IoT Core; empty: the AWS environment's (AWS_REGION...)",
    )
    policy: str = Field(
        "",
        pattern=r"^[\w+=,.@-]{0,128}$",
        validate_default=True,
        description="the IoT policy of the units, made by the stack: <stack name>-kenshin-unit",
    )
    endpoint: str = Field(
        "", description="https://... URL of the IoT API to call; empty: the region's own"
    )
    data_endpoint: str = Field(
        "",
        description="https://... URL of IoT Core's data plane, where commands are published;"
        " empty: the account's own, as the IoT API tells it",
    )

    @field_validator("endpoint", "data_endpoint")
    @classmethod
    def _https(cls, endpoint: str) -> str:
        if endpoint and not endpoint.startswith("https://"):
            raise ValueError(f"{endpoint!r} is no https:// URL (or leave it empty)")
        return endpoint

    @field_validator("policy")
    @classmethod
    def _named_if_enabled(cls, policy: str, info: ValidationInfo) -> str:
        if info.data.get("enabled") and not policy:
            raise ValueError(
                "IoT Core is enabled, but no policy is named: give the units' policy the stack"
                ' made, e.g. policy = "kenshin-production-kenshin-unit"'
            )
        return policy
