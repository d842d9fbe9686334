"""Ingest: an IoT topic rule puts every message units publish on their ``dt/`` topics on
an SQS queue (encrypted with the stage's key, with a dead-letter queue); the ingest
function takes them off it in batches and reports the messages it could not store, which
come back until they go to the dead-letter queue.

Each message on the queue is a JSON object: ``topic``, ``device`` (the topic's third
level, the thing name), ``payload`` (base64: JSON readings and binary ECHONET Lite frames
alike) and ``received`` (IoT Core's time of receipt, epoch milliseconds)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from kenshin_infra.functions import INGEST_HANDLER, Shared, python_function
from kenshin_infra.settings import StageSettings

# Messages to the topics of docs/wire-contract.md (the fourth level, the kind of payload).
RULE_SQL = (
    "SELECT topic() AS topic, topic(3) AS device, encode(*, 'base64') AS payload,"
    " timestamp() AS received FROM 'dt/kenshin/+/+'"
    " WHERE topic(4) = 'readings' OR topic(4) = 'echonet' OR topic(4) = 'status'"
)
# The queue's messages stay unseen this many times as long as the function may take.
VISIBILITY_PER_TIMEOUT = 6


class Ingest(Construct):
    """The topic rule, the queue and its dead-letter queue, and the ingest function."""

    def __init__(self, scope: Construct, construct_id: str, shared: Shared, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        settings = shared.settings
        self._key = key
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            visibility_timeout=Duration.seconds(settings.ingest_timeout_s * VISIBILITY_PER_TIMEOUT),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letters, max_receive_count=settings.ingest_max_receive_count
            ),
        )
        self.rule = self._rule(settings)
        self.function = python_function(
            self,
            "Function",
            handler=INGEST_HANDLER,
            memory_mb=settings.ingest_memory_mb,
            timeout_s=settings.ingest_timeout_s,
            shared=shared,
        )
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=settings.ingest_batch_size,
                max_batching_window=Duration.seconds(settings.ingest_batching_window_s),
                report_batch_item_failures=True,
                max_concurrency=settings.ingest_max_concurrency,
            )
        )

    def _rule(self, settings: StageSettings) -> iot.CfnTopicRule:
        """The rule taking units' messages to the queue (those it cannot put there, to the
        dead-letter queue), with a role that may send to those two queues only."""
        role = iam.Role(self, "RuleRole", assumed_by=iam.ServicePrincipal("iot.amazonaws.com"))
        # What sending to a queue encrypted with the key takes, and no more.
        self.queue.grant(role, "sqs:SendMessage")
        self.dead_letters.grant(role, "sqs:SendMessage")
        self._key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")
        return iot.CfnTopicRule(
            self,
            "Rule",
            rule_name=settings.name.replace("-", "_") + "_ingest",
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                sql=RULE_SQL,
                aws_iot_sql_version="2016-03-23",
                rule_disabled=False,
                actions=[_to_queue(self.queue, role)],
                error_action=_to_queue(self.dead_letters, role),
            ),
        )


def _to_queue(queue: sqs.Queue, role: iam.IRole) -> iot.CfnTopicRule.ActionProperty:
    return iot.CfnTopicRule.ActionProperty(
        sqs=iot.CfnTopicRule.SqsActionProperty(
            queue_url=queue.queue_url, role_arn=role.role_arn, use_base64=False
        )
    )
