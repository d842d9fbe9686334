"""Units on AWS IoT Core: kenshin's CA registered, the one policy every unit's
certificate is attached to (its thing is made with it, by the command line), and the
right of the function that sends the units' commands to publish them.

The policy gives each unit what kenshin's own endpoint does (docs/wire-contract.md):
the client id must be its thing's name, which is the device id; it publishes only under
``dt/kenshin/{its id}/`` and subscribes to and receives only its own commands,
``cmd/kenshin/{its id}/{command}``. The sender may publish, retained, on the command
topics of every unit and on nothing else."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_lambda as lambda_
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import Construct

from kenshin.domain.commands import RESEND
from kenshin_infra.settings import StageSettings

THING = "${iot:Connection.Thing.ThingName}"  # a policy variable, resolved by IoT Core
COMMANDS = (RESEND,)  # the commands kenshin sends, one topic each
POLICY_NAME = "kenshin-unit"
# cdk-nag's names, in a policy's resources, of the command topics of every unit and of
# "any resource" (the only one iot:DescribeEndpoint takes).
COMMAND_TOPICS = (
    r"/^Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:"
    r"topic\/cmd\/kenshin\/\*\/[a-z]+$/g"
)
ANY_RESOURCE = "Resource::*"


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
        self.policy_name = f"{settings.name}-{POLICY_NAME}"
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
            policy_name=self.policy_name,
            policy_document=unit_policy_document(),
        )

    def grant_commands(self, function: lambda_.Function) -> None:
        """Let ``function`` send the units' commands through IoT Core, and tell it to
        (kenshin's ``iot_core`` settings): publish, retained, on each command's topic of
        every unit and nothing else; and find the account's data endpoint."""
        topics = [_arn(f"topic/cmd/kenshin/*/{name}") for name in COMMANDS]
        iam.Grant.add_to_principal(
            grantee=function, actions=["iot:Publish", "iot:RetainPublish"], resource_arns=topics
        )
        iam.Grant.add_to_principal(
            grantee=function, actions=["iot:DescribeEndpoint"], resource_arns=["*"]
        )
        function.add_environment("KENSHIN_IOT_CORE__ENABLED", "true")
        function.add_environment("KENSHIN_IOT_CORE__POLICY", self.policy_name)
        role = function.role
        assert role is not None  # the function made its own
        NagSuppressions.add_resource_suppressions(
            role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="A command goes to whichever unit it is for: the function may"
                    " publish on each command's topic of every unit (cmd/kenshin/*/<command>),"
                    " and on no other topic.",
                    applies_to=[RegexAppliesTo(regex=COMMAND_TOPICS)],
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="iot:DescribeEndpoint, which finds the account's IoT data endpoint"
                    " the commands are published at, takes no resource but '*'.",
                    applies_to=[ANY_RESOURCE],
                ),
            ],
            apply_to_children=True,
        )
