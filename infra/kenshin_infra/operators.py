"""The operators' IAM group, ``{name}-operators`` (its users are added by hand): nothing
but setting up their own MFA device until they have signed in with it (the policy AWS
documents for this), then reading the stage's alarms, metrics and logs."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import Construct

from kenshin_infra.settings import StageSettings

USER = "${aws:username}"  # a policy variable: the signed-in user's name
# What a user may do on itself: its password, its MFA device.
ON_ONESELF = [
    "iam:ChangePassword",
    "iam:GetUser",
    "iam:EnableMFADevice",
    "iam:DeactivateMFADevice",
    "iam:GetMFADevice",
    "iam:ListMFADevices",
    "iam:ResyncMFADevice",
]
# What a user may do before signing in with MFA: see the account's password rules, change
# its own password, set up its MFA device, and get a session with it.
WITHOUT_MFA = [
    "iam:GetAccountPasswordPolicy",
    "iam:ChangePassword",
    "iam:GetUser",
    "iam:ListVirtualMFADevices",
    "iam:CreateVirtualMFADevice",
    "iam:EnableMFADevice",
    "iam:GetMFADevice",
    "iam:ListMFADevices",
    "iam:ResyncMFADevice",
    "sts:GetSessionToken",
]
# Reading the alarms and metrics; CloudWatch takes no narrower resource for these.
WATCH = [
    "cloudwatch:DescribeAlarms",
    "cloudwatch:DescribeAlarmHistory",
    "cloudwatch:GetMetricData",
    "cloudwatch:GetMetricStatistics",
    "cloudwatch:ListMetrics",
    "logs:DescribeLogGroups",
    "logs:GetQueryResults",
]
# Reading one log group.
READ_LOGS = [
    "logs:DescribeLogStreams",
    "logs:GetLogEvents",
    "logs:FilterLogEvents",
    "logs:StartQuery",
]


class Operators(Construct):
    """The group and its policy."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        settings: StageSettings,
        log_groups: Sequence[logs.ILogGroup],
    ) -> None:
        super().__init__(scope, construct_id)
        self.group = iam.Group(self, "Group", group_name=f"{settings.name}-operators")
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description=f"{settings.name} operators: MFA first, then read alarms and logs",
            statements=[*mfa_statements(), *_read_statements(log_groups)],
            groups=[self.group],
        )
        NagSuppressions.add_resource_suppressions(
            self.policy,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="Listing MFA devices, reading alarms and metrics and listing log"
                    " groups take no narrower resource; a new MFA device may have any name, as"
                    " in AWS's policy forcing MFA; everything else is denied without MFA.",
                    applies_to=[
                        "Resource::*",
                        RegexAppliesTo(regex=r"/^Resource::arn:.*:mfa\/\*$/g"),
                    ],
                )
            ],
        )


def _arn(service: str, resource: str) -> str:
    return f"arn:{Aws.PARTITION}:{service}::{Aws.ACCOUNT_ID}:{resource}"


def mfa_statements() -> list[iam.PolicyStatement]:
    """AWS's policy forcing MFA: without it, a user may only set up its own device."""
    return [
        iam.PolicyStatement(
            sid="AccountPasswordRulesAndMfaDevices",
            actions=["iam:GetAccountPasswordPolicy", "iam:ListVirtualMFADevices"],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="OwnPasswordAndMfa", actions=ON_ONESELF, resources=[_arn("iam", f"user/{USER}")]
        ),
        iam.PolicyStatement(
            sid="NewMfaDevice",
            actions=["iam:CreateVirtualMFADevice"],
            resources=[_arn("iam", "mfa/*")],
        ),
        iam.PolicyStatement(
            sid="NothingElseWithoutMfa",
            effect=iam.Effect.DENY,
            not_actions=WITHOUT_MFA,
            resources=["*"],
            conditions={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
        ),
    ]


def _read_statements(log_groups: Sequence[logs.ILogGroup]) -> list[iam.PolicyStatement]:
    return [
        iam.PolicyStatement(sid="WatchAlarmsAndMetrics", actions=WATCH, resources=["*"]),
        iam.PolicyStatement(
            sid="ReadTheStagesLogs",
            actions=READ_LOGS,
            resources=[group.log_group_arn for group in log_groups],
        ),
    ]
