"""Watching: alarms on what needs an operator (dead letters, ingest falling behind, the
topic rule or a function failing) to an encrypted SNS topic, which mails the operators
and, once the Slack workspace is authorized in AWS Chatbot, posts to a Slack channel."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from kenshin_infra.files import Files
from kenshin_infra.ingest import Ingest
from kenshin_infra.settings import StageSettings

PERIOD = Duration.minutes(5)
INGEST_BEHIND_S = 900  # the oldest message on the queue is this old: ingest is behind


class Watching(Construct):
    """The alarm topic, its subscribers, and the alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        settings: StageSettings,
        key: kms.Key,
        ingest: Ingest,
        files: Files,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Alarms", master_key=key, enforce_ssl=True)
        # CloudWatch publishes to the topic, encrypted with the key: it must use the key.
        key.grant(
            iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey"
        )
        self.topic.add_subscription(subscriptions.EmailSubscription(settings.alarm_email))
        if settings.slack_workspace_id and settings.slack_channel_id:
            self._slack(settings.name, settings.slack_workspace_id, settings.slack_channel_id)
        dead_letters = ingest.dead_letters.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic="Maximum"
        )
        oldest = ingest.queue.metric_approximate_age_of_oldest_message(
            period=PERIOD, statistic="Maximum"
        )
        self.alarms = [
            self._alarm("DeadLetters", dead_letters, 1),
            self._alarm("IngestBehind", oldest, INGEST_BEHIND_S),
            self._alarm("IngestErrors", ingest.function.metric_errors(period=PERIOD), 1),
            self._alarm("ExportErrors", files.export.metric_errors(period=PERIOD), 1),
            self._alarm("RuleFailures", _rule_failures(ingest), 1),
        ]

    def _alarm(self, name: str, metric: cloudwatch.IMetric, threshold: float) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
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
