"""FTPS for customers on a VPN: a Transfer Family server with its endpoint in a VPC of
the stage (private subnets in each of its zones, no way out to the internet, its
traffic logged), reached only from ``ftps_client_cidrs`` on the control port and the
passive data ports, with the settings' certificate. Customers log in with kenshin's own
accounts: the server asks kenshin's identity function, which checks the password against
the records table and answers with the customer's home directory and the customers'
read-only role."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, RemovalPolicy, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_transfer as transfer
from constructs import Construct

from kenshin_infra.functions import (
    IDENTITY_HANDLER,
    RETENTION,
    Shared,
    at_most,
    depends_on_its_role,
    python_function,
)

CONTROL_PORT = 21
PASSIVE_PORTS = (8192, 8200)  # the data ports of Transfer Family's FTPS, first and last
# Both servers': SSH algorithms of 2024 (no SHA-1), TLS 1.2 and newer with current ciphers.
SECURITY_POLICY = "TransferSecurityPolicy-2024-01"
SUBNET_MASK = 24
IDENTITY_MEMORY_MB = 512  # argon2id checks (19 MiB each); more memory, a faster processor
IDENTITY_TIMEOUT_S = 10
IDENTITY_AT_ONCE = 4  # logins checked at once
# CDK's function that takes every rule off a VPC's default security group, one per stack.
CLOSE_DEFAULT_GROUP = "Custom::VpcRestrictDefaultSGCustomResourceProvider"


class Ftps(Construct):
    """The VPC, the server's security group, the identity function and the server."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        shared: Shared,
        log_group: logs.ILogGroup,
        customer_role: iam.IRole,
        bucket: s3.IBucket,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        settings = shared.settings
        self.vpc = self._vpc(shared)
        self.security_group = ec2.SecurityGroup(
            self,
            "Endpoint",
            vpc=self.vpc,
            description="FTPS from the customers networks: control and passive data ports",
            allow_all_outbound=False,
        )
        for cidr in settings.ftps_client_cidrs:
            peer = ec2.Peer.ipv4(cidr) if ":" not in cidr else ec2.Peer.ipv6(cidr)
            self.security_group.add_ingress_rule(peer, ec2.Port.tcp(CONTROL_PORT), "FTPS control")
            self.security_group.add_ingress_rule(
                peer, ec2.Port.tcp_range(*PASSIVE_PORTS), "FTPS passive data"
            )
        self.identity = python_function(
            self,
            "Identity",
            handler=IDENTITY_HANDLER,
            memory_mb=IDENTITY_MEMORY_MB,
            timeout_s=IDENTITY_TIMEOUT_S,
            shared=shared,
            environment={
                "KENSHIN_AWS_TRANSFER_ROLE_ARN": customer_role.role_arn,
                "KENSHIN_AWS_FILES_BUCKET": bucket.bucket_name,
                "KENSHIN_AWS_FILES_KMS_KEY": key.key_arn,
            },
        )
        # Logins checked at once each see only the failures counted before them: a few at
        # a time bounds the guesses past the lockout (a login beyond them is refused, and
        # the customer's client tries again).
        at_most(self.identity, IDENTITY_AT_ONCE)
        self.server = self._server(shared, log_group)
        # Transfer Family may call the identity function, for this server only.
        self.identity.add_permission(
            "TransferInvoke",
            principal=iam.ServicePrincipal("transfer.amazonaws.com"),
            source_arn=self.server.attr_arn,
        )

    def _vpc(self, shared: Shared) -> ec2.Vpc:
        """Private subnets only, in the stage's zones: no internet gateway, no NAT."""
        settings = shared.settings
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=RETENTION[settings.log_retention_days],
            removal_policy=RemovalPolicy.RETAIN,
        )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(settings.vpc_cidr),
            availability_zones=list(settings.availability_zones),
            nat_gateways=0,
            restrict_default_security_group=True,  # see below
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="Ftps", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=SUBNET_MASK
                )
            ],
            flow_logs={
                "FlowLogs": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        for subnet in vpc.isolated_subnets:
            _zone_named(subnet)
        # Its default security group, which nothing uses, allows nothing (Security Hub's
        # EC2.2), emptied by CDK's function.
        handler = Stack.of(self).node.find_child(CLOSE_DEFAULT_GROUP).node.find_child("Handler")
        assert isinstance(handler, CfnResource)
        depends_on_its_role(handler)
        return vpc

    def _server(self, shared: Shared, log_group: logs.ILogGroup) -> transfer.CfnServer:
        """The FTPS server, its endpoint in each private subnet, its users kenshin's."""
        return transfer.CfnServer(
            self,
            "Server",
            domain="S3",
            endpoint_type="VPC",
            endpoint_details=transfer.CfnServer.EndpointDetailsProperty(
                vpc_id=self.vpc.vpc_id,
                subnet_ids=[subnet.subnet_id for subnet in self.vpc.isolated_subnets],
                security_group_ids=[self.security_group.security_group_id],
            ),
            identity_provider_type="AWS_LAMBDA",
            identity_provider_details=transfer.CfnServer.IdentityProviderDetailsProperty(
                function=self.identity.function_arn
            ),
            protocols=["FTPS"],
            certificate=shared.settings.ftps_certificate_arn,
            security_policy_name=SECURITY_POLICY,
            structured_log_destinations=[log_group.log_group_arn],
        )


def _zone_named(subnet: ec2.ISubnet) -> None:
    """The check that a subnet's zone is looked up at deployment, acknowledged: the zones
    are the settings', named so that synthesis looks nothing up."""
    resource = subnet.node.default_child
    assert isinstance(resource, CfnResource)
    resource.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3010"]}})
    Validations.of(resource).acknowledge(
        Acknowledgment(
            id="CloudFormation-Validate::W3010",
            reason="The stage's zones are named in its settings: synthesis looks nothing up.",
        )
    )
