"""Units on AWS IoT Core: kenshin's CA registered, and the one policy every unit's
certificate is attached to (its thing is made with it, by the command line).

The policy gives each unit what kenshin's own endpoint does (docs/wire-contract.md):
the client id must be its thing's name, which is the device id; it publishes only under
``dt/kenshin/{its id}/`` and subscribes to and receives only its own commands,
``cmd/kenshin/{its id}/{command}``."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws
from aws_cdk import aws_iot as iot
from constructs import Construct

from kenshin.domain.commands import RESEND
from kenshin_infra.settings import StageSettings

THING = "${iot:Connection.Thing.ThingName}"  # a policy variable, resolved by IoT Core
COMMANDS = (RESEND,)  # the commands kenshin sends, one topic each
POLICY_NAME = "kenshin-unit"


def _arn(resource: str) -> str:
    return f"arn:{Aws.PARTITION}:iot:{Aws.REGION}:{Aws.ACCOUNT_ID}:{resource}"


def unit_policy_document() -> dict[str, Any]:
    """The IoT policy of every unit, with policy variables for its own names."""
    commands = [f"cmd/kenshin/{THING}/{name}" for name in COMMANDS]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": _arn(f"client/{THING}"),
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
            },
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": _arn(f"topic/dt/kenshin/{THING}/*"),
            },
            {
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": [
                    _arn(f"topicfilter/cmd/kenshin/{THING}/#"),
                    *(_arn(f"topicfilter/{topic}") for topic in commands),
                ],
            },
            {
                "Effect": "Allow",
                "Action": "iot:Receive",
                "Resource": [_arn(f"topic/{topic}") for topic in commands],
            },
        ],
    }


class Devices(Construct):
    """kenshin's CA on IoT Core, and the units' policy."""

    def __init__(self, scope: Construct, construct_id: str, settings: StageSettings) -> None:
        super().__init__(scope, construct_id)
        verification = settings.verification_pem()
        self.ca = iot.CfnCACertificate(
            self,
            "CA",
            ca_certificate_pem=settings.ca_pem(),
            status="ACTIVE",
            certificate_mode="SNI_ONLY" if verification is None else "DEFAULT",
            verification_certificate_pem=verification,
            auto_registration_status="DISABLE",
        )
        self.policy = iot.CfnPolicy(
            self,
            "UnitPolicy",
            policy_name=f"{settings.name}-{POLICY_NAME}",
            policy_document=unit_policy_document(),
        )
