"""kenshin's own watching, as scheduled functions: its alert rules, run every
``watch_every_minutes``, and the daily data-quality report, at ``report_time_utc``. Both
may mail through Amazon SES, as ``ses_sender`` only."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from kenshin_infra.functions import (
    REPORT_HANDLER,
    WATCH_HANDLER,
    Shared,
    one_at_a_time,
    python_function,
)
from kenshin_infra.settings import StageSettings


class Jobs(Construct):
    """The watch and report functions and their schedules."""

    def __init__(self, scope: Construct, construct_id: str, shared: Shared) -> None:
        super().__init__(scope, construct_id)
        settings = shared.settings
        self.watch = python_function(
            self,
            "Watch",
            handler=WATCH_HANDLER,
            memory_mb=settings.watch_memory_mb,
            timeout_s=settings.watch_timeout_s,
            shared=shared,
        )
        one_at_a_time(self.watch)
        self.report = python_function(
            self,
            "Report",
            handler=REPORT_HANDLER,
            memory_mb=settings.report_memory_mb,
            timeout_s=settings.report_timeout_s,
            shared=shared,
        )
        one_at_a_time(self.report)
        hour, minute = settings.report_time_utc.split(":")
        self._every(
            "WatchSchedule",
            events.Schedule.rate(Duration.minutes(settings.watch_every_minutes)),
            self.watch,
        )
        self._every(
            "ReportSchedule",
            events.Schedule.cron(minute=str(int(minute)), hour=str(int(hour))),
            self.report,
        )
        for function in (self.watch, self.report):
            grant_mail(function, settings)

    def _every(self, name: str, schedule: events.Schedule, function: lambda_.IFunction) -> None:
        events.Rule(
            self,
            name,
            schedule=schedule,
            targets=[targets.LambdaFunction(function, retry_attempts=2)],
        )


def grant_mail(grantee: iam.IGrantable, settings: StageSettings) -> None:
    """Send mail through SES from ``ses_sender`` only, whether SES knows it as an address
    or by its domain (the identity it was verified as)."""
    sender = settings.ses_sender
    domain = sender.rsplit("@", 1)[1]
    identities = [
        f"arn:{Aws.PARTITION}:ses:{settings.region}:{settings.account}:identity/{name}"
        for name in (sender, domain)
    ]
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["ses:SendEmail", "ses:SendRawEmail"],
        resource_arns=identities,
        conditions={"StringEquals": {"ses:FromAddress": sender}},
    )
