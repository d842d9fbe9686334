"""Watching: alarms on what needs an operator (dead letters, ingest falling behind, the
topic rule failing, a function failing or throttled, an export failing, units gone
silent) to an encrypted SNS topic, which mails the operators and, once the Slack
workspace is authorized in AWS Chatbot, posts to a Slack channel.

kenshin's functions report three metrics of their own in the namespace ``kenshin``, with
the dimension ``Stage`` (their KENSHIN_AWS_STAGE, the stage's name): ``DeadLetters`` (the
messages ingest could not use), ``ExportFailures`` (customer days the export could not
publish) and ``SilentUnits`` (the units the alert rules find silent)."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from kenshin_infra.ingest import Ingest
from kenshin_infra.settings import StageSettings

PERIOD = Duration.minutes(5)
INGEST_BEHIND_S = 900  # the oldest message on the queue is this old: ingest is behind
NAMESPACE = "kenshin"  # of the metrics kenshin's functions report
SILENT_PERIODS = 2  # units silent in this many runs of the alert rules in a row alarm


class Watching(Construct):
    """The alarm topic, its subscribers, and the alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        settings: StageSettings,
        key: kms.Key,
        ingest: Ingest,
        functions: Mapping[str, lambda_.IFunction],
    ) -> None:
        super().__init__(scope, construct_id)
        self._name = settings.name
        self.topic = sns.Topic(self, "Alarms", master_key=key, enforce_ssl=True)
        # CloudWatch publishes to the topic, encrypted with the key: it must use the key.
        key.grant(
            iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey"
        )
        self.topic.add_subscription(subscriptions.EmailSubscription(settings.alarm_email))
        if settings.slack_workspace_id and settings.slack_channel_id:
            self._slack(settings.name, settings.slack_workspace_id, settings.slack_channel_id)
        self.alarms = [
            *self._ingest_alarms(ingest),
            *self._kenshin_alarms(settings),
            *(
                self._alarm(f"{name}{what}", metric, 1, f"the {name.lower()} function {said}")
                for name, function in functions.items()
                for what, metric, said in (
                    ("Errors", function.metric_errors(period=PERIOD), "failed"),
                    ("Throttles", function.metric_throttles(period=PERIOD), "was throttled"),
                )
            ),
        ]

    def _ingest_alarms(self, ingest: Ingest) -> list[cloudwatch.Alarm]:
        dead_letters = ingest.dead_letters.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic="Maximum"
        )
        oldest = ingest.queue.metric_approximate_age_of_oldest_message(
            period=PERIOD, statistic="Maximum"
        )
        return [
            self._alarm("DeadLetters", dead_letters, 1, "messages wait in the dead-letter queue"),
            self._alarm("IngestBehind", oldest, INGEST_BEHIND_S, "ingest is 15 minutes behind"),
            self._alarm("RuleFailures", _rule_failures(ingest), 1, "the topic rule failed"),
        ]

    def _kenshin_alarms(self, settings: StageSettings) -> list[cloudwatch.Alarm]:
        """The alarms on the metrics kenshin's functions report."""
        every_run = Duration.minutes(settings.watch_every_minutes)
        return [
            self._alarm(
                "IngestDeadLetters",
                self._metric("DeadLetters", "Sum", PERIOD),
                1,
                "ingest set messages aside as dead letters",
            ),
            self._alarm(
                "ExportFailures",
                self._metric("ExportFailures", "Sum", PERIOD),
                1,
                "the export could not publish customer files",
            ),
            self._alarm(
                "SilentUnits",
                self._metric("SilentUnits", "Maximum", every_run),
                1,
                "units are silent",
                periods=SILENT_PERIODS,
            ),
        ]

    def _metric(self, name: str, statistic: str, period: Duration) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=NAMESPACE,
            metric_name=name,
            dimensions_map={"Stage": self._name},
            statistic=statistic,
            period=period,
        )

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        when: str,
        *,
        periods: int = 1,
    ) -> cloudwatch.Alarm:
        """An alarm to the topic when ``metric`` is at or above ``threshold`` for
        ``periods`` periods in a row; ``when`` says what that means."""
        alarm = cloudwatch.Alarm(
            self,
            name,
            alarm_name=f"{self._name}-{name}",
            alarm_description=f"{self._name}: {when}",
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        return alarm

    def _slack(self, name: str, workspace: str, channel: str) -> None:
        """The alarms in a Slack channel, through AWS Chatbot, which may only read."""
        chatbot.SlackChannelConfiguration(
            self,
            "Slack",
            slack_channel_configuration_name=f"{name}-alarms",
            slack_workspace_id=workspace,
            slack_channel_id=channel,
            notification_topics=[self.topic],
            guardrail_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("CloudWatchReadOnlyAccess")
            ],
        )


def _rule_failures(ingest: Ingest) -> cloudwatch.Metric:
    """How many of the topic rule's actions failed (AWS/IoT's Failure)."""
    return cloudwatch.Metric(
        namespace="AWS/IoT",
        metric_name="Failure",
        dimensions_map={"RuleName": ingest.rule.ref},
        statistic="Sum",
        period=PERIOD,
    )
